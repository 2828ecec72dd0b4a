// Package dispatch decides who goes: which vendors may be sent to a work
// order, in what order, and what happens as they accept, decline or let an
// offer lapse.
//
// It sits between cloud/workorder (which owns the READY -> DISPATCHED ->
// ACCEPTED transitions) and the stores. Everything here is pure and takes
// the time it is asked about as an argument:
//
//   - Vendor is the provider record (trades, coverage, compliance documents,
//     technicians, rates, NTE, SLA commitments, capacity, ranks), with
//     validation that names the field at fault, and ExpiringDocuments.
//   - Candidates filters the vendor pool for one work order and ranks the
//     survivors by the company's Rules (YAML). The Decision it returns
//     explains every vendor: why it was excluded (a named Reason) or where
//     it ranked and on what (a Breakdown). It is stored on the work order.
//   - Offers is the offer bookkeeping as a state machine: the top vendor is
//     offered the work order; a decline, a lapsed acceptance window or a
//     failed compliance re-check at accept moves the offer to the next.
//     Each step returns the workorder actions to take (Moves) and the
//     outcome records the scorecards are computed from.
//   - Scorecard turns outcome records into the rates and the composite
//     score that ranking uses.
//
// The pipeline, as the cloud wires it:
//
//	READY work order -> Candidates -> Decision (stored) -> Offers.Start -> workorder.Dispatch
//	accept / decline / sweep tick -> Offers -> Moves -> workorder.Act
//	outcomes -> Score -> Scorecard -> next Candidates
package dispatch
