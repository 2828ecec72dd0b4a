package pm

import "time"

// Visit is one generated visit: an occurrence of a schedule on a target
// that became a work order.
type Visit struct {
	Schedule   string    `json:"schedule"`
	Site       string    `json:"site"`
	Asset      string    `json:"asset"`
	Occurrence string    `json:"occurrence"`
	DueAt      time.Time `json:"due_at"`
	WorkOrder  string    `json:"work_order"`
}
