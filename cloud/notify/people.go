package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/frostline/frostline/cloud"
)

// Topics are what people are told about. A person's preferences are kept
// per topic.
const (
	TopicReportReceived  = "report_received"  // store: their report opened a work order
	TopicReportMerged    = "report_merged"    // store: their report joined an open work order
	TopicVendorAssigned  = "vendor_assigned"  // store: the vendor accepted, with its ETA
	TopicOnSite          = "on_site"          // store: the technician checked in
	TopicCompleted       = "completed"        // store: the work is done
	TopicVerified        = "verified"         // store: the fix held
	TopicRecalled        = "recalled"         // store: the problem came back; the vendor is recalled
	TopicP1Created       = "p1_created"       // FM: a P1 was opened (or escalated to P1)
	TopicQuoteWaiting    = "quote_waiting"    // FM: a quote above the NTE waits for approval
	TopicSLABreach       = "sla_breach"       // FM, then their manager: a milestone was missed
	TopicOffer           = "offer"            // vendor: work offered, with its accept-by time
	TopicSLAReminder     = "sla_reminder"     // vendor: a milestone is due soon
	TopicDigest          = "digest"           // FM: the day's open work by site and age
	TopicInvoiceDispute  = "invoice_disputed" // vendor (billing): lines of its invoice were disputed
	TopicInvoiceWaiting  = "invoice_waiting"  // FM: a vendor's invoice waits for their approval
	TopicInvoiceApproved = "invoice_approved" // vendor (billing): its invoice was approved
	TopicNotFixed        = "not_fixed"        // FM: a store says a verified fix did not hold (recalled, or flagged after the recall window)
)

// Topics lists every topic.
var Topics = []string{TopicReportReceived, TopicReportMerged, TopicVendorAssigned, TopicOnSite, TopicCompleted,
	TopicVerified, TopicRecalled, TopicP1Created, TopicQuoteWaiting, TopicSLABreach, TopicOffer, TopicSLAReminder, TopicDigest, TopicInvoiceDispute,
	TopicInvoiceWaiting, TopicInvoiceApproved, TopicNotFixed}

// Preference is how a person wants a topic.
type Preference string

// Preferences.
const (
	On     Preference = "on"     // as it happens (the default)
	Off    Preference = "off"    // never
	Digest Preference = "digest" // in the daily digest
)

// Person is someone the cloud tells about work orders: a store contact,
// an FM, a vendor's dispatcher. Role and Scope say which work orders are
// theirs, by the same rule tokens use.
type Person struct {
	ID    string      `json:"id" yaml:"id"`
	Name  string      `json:"name" yaml:"name"`
	Role  cloud.Role  `json:"role" yaml:"role"`
	Scope PersonScope `json:"scope" yaml:"scope"`
	Email string      `json:"email,omitempty" yaml:"email"`
	Phone string      `json:"phone,omitempty" yaml:"phone"`
	// Manager is the person an unacknowledged escalation goes to next.
	Manager string `json:"manager,omitempty" yaml:"manager"`
	// Timezone is where the person's digest day runs; empty: the
	// service's digest time zone.
	Timezone string `json:"timezone,omitempty" yaml:"timezone"`
	// Quiet are hours, in the work order's site's time zone, when only
	// P1 work reaches the person; the rest waits until they end.
	Quiet *QuietHours `json:"quiet_hours,omitempty" yaml:"quiet_hours"`
	// Preferences per topic, "*" for every topic not listed.
	Preferences map[string]Preference `json:"preferences,omitempty" yaml:"preferences"`
	// Channels the person is reached on; empty: email.
	Channels []string `json:"channels,omitempty" yaml:"channels"`
	// Source is "vendor" for a vendor's stored contact (read-only, id
	// "vendor:<vendor>:<n>"), empty for a person on file.
	Source    string    `json:"source,omitempty" yaml:"-"`
	UpdatedAt time.Time `json:"updated_at,omitzero" yaml:"-"`
}

// PersonScope is whose work orders a person hears about: all, sites
// and/or a region, or one vendor's.
type PersonScope struct {
	All    bool     `json:"all,omitempty" yaml:"all"`
	Sites  []string `json:"sites,omitempty" yaml:"sites"`
	Region string   `json:"region,omitempty" yaml:"region"`
	Vendor string   `json:"vendor,omitempty" yaml:"vendor"`
}

// covers reports whether the scope includes a site of a region and a
// vendor.
func (s PersonScope) covers(site, region, vendor string) bool {
	if s.Vendor != "" {
		return vendor == s.Vendor && (len(s.Sites) == 0 || slices.Contains(s.Sites, site))
	}
	return s.All || slices.Contains(s.Sites, site) || (s.Region != "" && s.Region == region)
}

// QuietHours run from Start to End, "HH:MM" each; End before Start spans
// midnight (22:00-07:00).
type QuietHours struct {
	Start string `json:"start" yaml:"start"`
	End   string `json:"end" yaml:"end"`
}

func hhmm(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("want HH:MM, got %q", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Until returns when the quiet hours that contain t end, or the zero time
// when t is outside them. t's location is the one the hours are read in.
func (q *QuietHours) Until(t time.Time) time.Time {
	if q == nil {
		return time.Time{}
	}
	start, err1 := hhmm(q.Start)
	end, err2 := hhmm(q.End)
	if err1 != nil || err2 != nil || start == end {
		return time.Time{}
	}
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	at := t.Sub(midnight)
	switch {
	case start < end && at >= start && at < end:
		return at2(midnight, end)
	case start > end && at >= start: // before midnight
		return at2(midnight.AddDate(0, 0, 1), end)
	case start > end && at < end: // after midnight
		return at2(midnight, end)
	}
	return time.Time{}
}

// at2 is the wall clock d after midnight m, right across DST changes.
func at2(m time.Time, d time.Duration) time.Time {
	return time.Date(m.Year(), m.Month(), m.Day(), int(d/time.Hour), int(d%time.Hour/time.Minute), 0, 0, m.Location())
}

// Preference returns how the person wants a topic.
func (p *Person) Preference(topic string) Preference {
	if v, ok := p.Preferences[topic]; ok {
		return v
	}
	if v, ok := p.Preferences["*"]; ok {
		return v
	}
	return On
}

// channels returns the person's channels, email by default.
func (p *Person) channels() []string {
	if len(p.Channels) == 0 {
		return []string{"email"}
	}
	return p.Channels
}

// Address is the person's address on a channel, "" when they have none.
func (p *Person) Address(channel string) string {
	switch channel {
	case "email":
		return p.Email
	case "sms":
		return p.Phone
	}
	return ""
}

// Validate checks a person, naming every field at fault.
func (p *Person) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) { errs = append(errs, cloud.FieldError(field, format, args...)) }
	if !cloud.ValidID(p.ID) {
		bad("id", "%q is not a valid id (letters, digits, _ -)", p.ID)
	}
	if p.Name == "" || !cloud.PlainText(p.Name, 100) {
		bad("name", "required: at most 100 characters of plain text")
	}
	switch p.Role {
	case cloud.RoleStore, cloud.RoleFM, cloud.RoleVendor, cloud.RoleTechnician, cloud.RoleAdmin:
	default:
		bad("role", "unknown role %q (want store, fm, vendor, technician or admin)", p.Role)
	}
	sc := p.Scope
	switch {
	case (p.Role == cloud.RoleVendor || p.Role == cloud.RoleTechnician) && sc.Vendor == "":
		bad("scope.vendor", "a %s's scope names their vendor", p.Role)
	case p.Role != cloud.RoleVendor && p.Role != cloud.RoleTechnician && sc.Vendor != "":
		bad("scope.vendor", "only vendors and technicians are scoped to a vendor")
	case p.Role == cloud.RoleStore && len(sc.Sites) == 0:
		bad("scope.sites", "a store contact needs at least one site")
	case p.Role == cloud.RoleFM && !sc.All && len(sc.Sites) == 0 && sc.Region == "":
		bad("scope", "an FM needs all, sites or a region")
	}
	for i, s := range sc.Sites {
		if !cloud.ValidID(s) {
			bad(fmt.Sprintf("scope.sites[%d]", i), "%q is not a valid site id", s)
		}
	}
	if !cloud.PlainText(sc.Region, 64) {
		bad("scope.region", "at most 64 characters of plain text")
	}
	if p.Email != "" {
		if a, err := mail.ParseAddress(p.Email); err != nil || a.Address != p.Email {
			bad("email", "want a bare address such as ann@example.com, got %q", p.Email)
		}
	}
	if p.Phone != "" && !validPhone(p.Phone) {
		bad("phone", "want an E.164 number such as +15125550100, got %q", p.Phone)
	}
	if p.Email == "" && p.Phone == "" {
		bad("email", "a person needs an email address or a phone number")
	}
	if p.Manager != "" && (!cloud.ValidID(p.Manager) || p.Manager == p.ID) {
		bad("manager", "want another person's id, got %q", p.Manager)
	}
	if p.Timezone != "" {
		if _, err := time.LoadLocation(p.Timezone); err != nil || p.Timezone == "Local" || strings.HasPrefix(p.Timezone, "/") || strings.Contains(p.Timezone, "..") {
			bad("timezone", "%q is not an IANA time zone name such as America/Chicago", p.Timezone)
		}
	}
	if q := p.Quiet; q != nil {
		if _, err := hhmm(q.Start); err != nil {
			bad("quiet_hours.start", "%v", err)
		}
		if _, err := hhmm(q.End); err != nil {
			bad("quiet_hours.end", "%v", err)
		}
		if q.Start == q.End {
			bad("quiet_hours", "start and end are the same")
		}
	}
	for topic, v := range p.Preferences {
		if topic != "*" && !slices.Contains(Topics, topic) {
			bad("preferences."+topic, "unknown topic (want * or one of %s)", strings.Join(Topics, ", "))
		}
		if v != On && v != Off && v != Digest {
			bad("preferences."+topic, "want on, off or digest, got %q", v)
		}
	}
	for i, c := range p.Channels {
		if c != "email" && c != "sms" && c != "slack" && c != "teams" {
			bad(fmt.Sprintf("channels[%d]", i), "unknown channel %q (want email, sms, slack or teams)", c)
		}
	}
	return errors.Join(errs...)
}

func validPhone(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// ParsePeople reads a people file: a YAML list of people, the JSON of
// /api/v1/people in YAML. Unknown fields are refused; every person is
// validated, and each error names the file, the person and the field.
func ParsePeople(file string, data []byte) ([]Person, error) {
	var people []Person
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&people); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var errs []error
	seen := map[string]bool{}
	for i := range people {
		p := &people[i]
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: people[%d] (%s): %w", file, i, p.ID, err))
		}
		if seen[p.ID] {
			errs = append(errs, fmt.Errorf("%s: people[%d]: id %q appears twice", file, i, p.ID))
		}
		seen[p.ID] = true
	}
	return people, errors.Join(errs...)
}

// VendorContact is a vendor's stored contact (dispatch.Contact), as people
// planning sees it.
type VendorContact struct {
	Vendor, Name, Role, Email, Phone string
}

// VendorPeople makes people of vendors' stored contacts, so that a vendor
// on file is told of its offers and disputes without anyone typing its
// people in twice. A billing contact hears only of its invoices
// (disputed, approved), the others of everything else; an id "vendor:<vendor>:<n>" is stable while
// the contact list keeps its order. A person on file with the same email
// wins over the contact.
func VendorPeople(contacts []VendorContact, onFile []Person) []Person {
	emails := map[string]bool{}
	for _, p := range onFile {
		if p.Email != "" {
			emails[strings.ToLower(p.Email)] = true
		}
	}
	var out []Person
	n := map[string]int{}
	for _, c := range contacts {
		i := n[c.Vendor]
		n[c.Vendor]++
		if (c.Email == "" && c.Phone == "") || (c.Email != "" && emails[strings.ToLower(c.Email)]) {
			continue
		}
		prefs := map[string]Preference{TopicInvoiceDispute: Off, TopicInvoiceApproved: Off}
		if c.Role == "billing" {
			prefs = map[string]Preference{"*": Off, TopicInvoiceDispute: On, TopicInvoiceApproved: On}
		}
		name := c.Name
		if name == "" {
			name = c.Vendor
		}
		out = append(out, Person{ID: fmt.Sprintf("vendor:%s:%d", c.Vendor, i), Name: name, Role: cloud.RoleVendor,
			Scope: PersonScope{Vendor: c.Vendor}, Email: c.Email, Phone: c.Phone, Preferences: prefs, Source: "vendor"})
	}
	return out
}
