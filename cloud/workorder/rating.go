package workorder

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/frostline/frostline/cloud"
)

// Rated is the kind of the event that records the store's say on a
// verified visit.
const Rated Kind = "rating"

// What a "not fixed" rating led to (Rating.Outcome).
const (
	// RatingRecall: within the recall window, the work order was reopened
	// and went back to its vendor as a recall.
	RatingRecall = "recall"
	// RatingFlagged: after the recall window, the answer is recorded and
	// flagged for the FM; nobody is recalled.
	RatingFlagged = "flagged"
	// RatingAlreadyOpen: within the recall window, but the problem is
	// already being worked on another work order (the sensor saw it
	// first): no second recall.
	RatingAlreadyOpen = "already_open"
)

// MaxRatingComment is the longest comment a rating may carry, in
// characters.
const MaxRatingComment = 2000

// Rating is the store contact's answer after verification: was it fixed,
// a score from 1 to 5, and a comment. A work order takes one rating per
// verification (Verified names it); a reopened and verified again work
// order is rated again.
type Rating struct {
	Fixed   bool   `json:"fixed"`
	Score   int    `json:"score"`
	Comment string `json:"comment,omitempty"`
	// By is who answered (a person's name, or a token's); Via is how:
	// "link" (the emailed link), "page" (the store page) or "api".
	By  string    `json:"by"`
	Via string    `json:"via"`
	At  time.Time `json:"at"`
	// Vendor is the vendor whose visit was rated; Verified when the
	// verification it rates happened.
	Vendor   string    `json:"vendor,omitempty"`
	Verified time.Time `json:"verified"`
	// Outcome is what a "not fixed" answer led to: RatingRecall,
	// RatingFlagged or RatingAlreadyOpen; empty when fixed.
	Outcome string `json:"outcome,omitempty"`
	// Open is the work order already open for the problem
	// (RatingAlreadyOpen).
	Open string `json:"open,omitempty"`
}

// Rateable reports whether w waits for the store's rating of its current
// verification.
func (w *WorkOrder) Rateable() bool {
	return (w.Status == Verified || w.Status == Closed) && w.VerifiedAt != nil &&
		(w.Rating == nil || !w.Rating.Verified.Equal(*w.VerifiedAt))
}

// Rater is a Dispatcher that keeps the store's rating on the record of
// the vendor whose visit was rated (cloud/dispatch: its scorecard).
type Rater[T Tx] interface {
	Rated(ctx context.Context, tx T, w *WorkOrder, r *Rating) error
}

// Rate records the store's rating of w's verified visit in the caller's
// transaction and returns the events to save. A rating is refused
// (EINVALID) without a score from 1 to 5 or with too long a comment, and
// (ECONFLICT) unless w is verified and not yet rated for this
// verification: whoever answers first, by link, page or API, is the
// answer.
//
// "Not fixed" within the policy's recall window of the verification
// reopens w and sends it back to its vendor as a recall, the path a
// problem that comes back during verification takes (Act's Reopen, then
// after). If the problem is already open on another work order, that one
// stands and nothing is reopened. After the window, or on a work order
// already closed, the answer is recorded and flagged for the FM.
func (in *Intake[T]) Rate(ctx context.Context, tx T, w *WorkOrder, r Rating) ([]Event, error) {
	r.Comment = strings.TrimSpace(r.Comment)
	switch {
	case r.Score < 1 || r.Score > 5:
		return nil, cloud.FieldError("score", "a score from 1 to 5 is required")
	case utf8.RuneCountInString(r.Comment) > MaxRatingComment:
		return nil, cloud.FieldError("comment", "at most %d characters", MaxRatingComment)
	case strings.TrimSpace(r.By) == "":
		return nil, cloud.FieldError("by", "who answers is required")
	}
	if w.Status != Verified && w.Status != Closed || w.VerifiedAt == nil {
		return nil, cloud.Errorf(cloud.ECONFLICT, "work order %d is %s: only a verified visit can be rated", w.Number, w.Status.Upper())
	}
	if !w.Rateable() {
		return nil, cloud.Errorf(cloud.ECONFLICT, "work order %d was already rated by %s at %s", w.Number, w.Rating.By,
			w.Rating.At.UTC().Format(time.RFC3339))
	}
	r.Vendor, r.Verified, r.Outcome, r.Open = w.Vendor, *w.VerifiedAt, "", ""
	reopen := false
	reason := fmt.Sprintf("fixed, %d of 5", r.Score)
	if !r.Fixed {
		window := time.Duration(in.Policy.RecallWindow)
		within := window > 0 && !r.At.After(w.VerifiedAt.Add(window))
		switch {
		case within && w.Status == Verified:
			open, err := tx.OpenFor(ctx, w.Site, w.Asset, w.Family)
			if err != nil {
				return nil, fmt.Errorf("rating: open work order: %w", err)
			}
			if open != nil && open.ID != w.ID {
				r.Outcome, r.Open = RatingAlreadyOpen, open.ID
				reason = fmt.Sprintf("not fixed, %d of 5: already open as work order %d", r.Score, open.Number)
			} else {
				r.Outcome, reopen = RatingRecall, true
				reason = fmt.Sprintf("not fixed, %d of 5: recall to %s", r.Score, w.Vendor)
			}
		default:
			r.Outcome = RatingFlagged
			reason = fmt.Sprintf("not fixed, %d of 5: after the recall window, flagged for the FM", r.Score)
		}
	}
	var events []Event
	w.record(&events, Event{Kind: Rated, Actor: r.By, At: r.At, Rating: &r, Reason: reason})
	if rater, ok := in.Dispatcher.(Rater[T]); ok {
		if err := rater.Rated(ctx, tx, w, &r); err != nil {
			return nil, fmt.Errorf("rating: vendor record: %w", err)
		}
	}
	if reopen {
		why := "the store says it is not fixed"
		if r.Comment != "" {
			why += ": " + r.Comment
		}
		ev, err := Act(w, Reopen, Input{Actor: r.By, Role: System, At: r.At, Reason: why})
		if err != nil {
			return nil, err
		}
		events = append(events, ev...)
		if err := in.after(ctx, tx, w, Reopen, r.At, &events); err != nil {
			return nil, err
		}
	}
	return events, nil
}

// RatedVisit is a rating with the work order it rates: a row of the
// store's list of ratings, which FMs read for the flagged ones.
type RatedVisit struct {
	WorkOrder string `json:"work_order"`
	Number    int64  `json:"number"`
	Site      string `json:"site"`
	Asset     string `json:"asset"`
	Rating
}

// RatingFilter picks from the list of ratings; empty fields pick all.
type RatingFilter struct {
	Vendor, Site, Outcome string
	Limit                 int // at most 1000; 0: 200
}
