package dispatch

import "context"

// InvoiceDecided records on the vendor's outcome for a work order that
// its invoice was decided (approved or rejected), and whether it was
// approved without a dispute: the scorecard's invoice accuracy. The
// outcome is the vendor's accepted offer (the last one, after a recall's
// re-dispatch); a work order without one (dispatched by hand before
// outcomes were kept) changes nothing.
func InvoiceDecided(ctx context.Context, t Tx, wo, vendor string, clean bool) error {
	outs, err := t.Outcomes(ctx, wo)
	if err != nil {
		return err
	}
	for i := len(outs) - 1; i >= 0; i-- {
		if o := &outs[i]; o.Vendor == vendor && o.Response == Accepted {
			if o.InvoiceDecided && o.InvoiceClean == clean {
				return nil
			}
			o.InvoiceDecided, o.InvoiceClean = true, clean
			return t.PutOutcomes(ctx, outs[i:i+1])
		}
	}
	return nil
}
