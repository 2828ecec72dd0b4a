// Package outbox is the edge agent's durable queue between the rule engine
// and the forwarder: what the engine decided survives a crash, a power cut
// and a WAN outage until the cloud has acknowledged it.
//
// It is one bbolt file with four buckets: incident events, telemetry
// batches, the rule engine's checkpoint, and the input log. Commit writes a
// batch's events together with the input that produced them (or with a
// checkpoint of the engine after it) in one transaction, fsynced before it
// returns. After a crash the engine restores the checkpoint and replays the
// logged input since, reaching exactly the state whose events are already
// queued: nothing lost, nothing raised twice. Logging input is cheap and
// checkpointing a large store's rule state is not, so the agent
// checkpoints every few seconds and logs input in between.
//
// Policy, stated: incidents are never dropped (the queue grows until the
// disk is full, which an operator sees in frostline_edge_outbox_bytes long
// before). Telemetry is bounded by entries and bytes; the oldest batches are
// dropped first and counted. The forwarder drains incidents before
// telemetry, each queue in commit order, which keeps the order per asset.
package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
)

// Kind is one of the outbox's queues.
type Kind uint8

// The queues, in the order the forwarder drains them.
const (
	Incidents Kind = iota
	Telemetry
	numKinds
)

func (k Kind) String() string {
	if k == Incidents {
		return "incidents"
	}
	return "telemetry"
}

var (
	buckets       = [numKinds][]byte{[]byte("incidents"), []byte("telemetry")}
	stateBucket   = []byte("state")
	inputBucket   = []byte("input")
	checkpointKey = []byte("rules")
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("outbox: closed")

// Entry is one message waiting to be forwarded.
type Entry struct {
	Seq     uint64 // position in its queue, set by Commit
	Subject string
	MsgID   string    // de-duplication id (Nats-Msg-Id)
	Queued  time.Time // when Commit wrote it, for the forward-lag metric
	Data    []byte
}

// Batch is what one Commit writes atomically.
type Batch struct {
	Incidents []Entry
	Telemetry []Entry
	// Input is what the engine evaluated to produce the batch (opaque to
	// the outbox). It is appended to the input log.
	Input []byte
	// Checkpoint is the rule engine's snapshot after this batch. When set,
	// it replaces the stored one and empties the input log, which it
	// covers; Input is then not logged.
	Checkpoint []byte
}

// Options bound the outbox. Zero values take the defaults.
type Options struct {
	// MaxTelemetry is the most telemetry batches kept (default 4320: 72
	// hours of one batch a minute).
	MaxTelemetry int
	// MaxTelemetryBytes is the most telemetry bytes kept (default 512 MiB).
	MaxTelemetryBytes int64
	// LockTimeout is how long Open waits for another process holding the
	// file (default 5s).
	LockTimeout time.Duration
}

func (o *Options) defaults() {
	if o.MaxTelemetry <= 0 {
		o.MaxTelemetry = 72 * 60
	}
	if o.MaxTelemetryBytes <= 0 {
		o.MaxTelemetryBytes = 512 << 20
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 5 * time.Second
	}
}

// Outbox is the durable queue. Commit (the engine's goroutine) and
// Next/Remove (the forwarder's) may run concurrently: bbolt serialises
// write transactions, and the counters are atomics.
type Outbox struct {
	db    *bolt.DB
	opts  Options
	ready chan struct{}

	// encodeBuf is Commit's encoding buffer, touched only inside its
	// write transaction (bbolt runs one at a time).
	encodeBuf []byte

	entries [numKinds]atomic.Int64
	bytes   [numKinds]atomic.Int64
	dropped prometheus.Counter
	commits prometheus.Counter
}

// Open opens (creating when needed) the outbox file at path.
func Open(path string, opts Options, reg prometheus.Registerer) (*Outbox, error) {
	opts.defaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	o := &Outbox{db: db, opts: opts, ready: make(chan struct{}, 1)}
	err = db.Update(func(tx *bolt.Tx) error {
		for k, name := range buckets {
			b, err := tx.CreateBucketIfNotExists(name)
			if err != nil {
				return err
			}
			var n, size int64
			if err := b.ForEach(func(_, v []byte) error { n++; size += int64(len(v)); return nil }); err != nil {
				return err
			}
			o.entries[k].Store(n)
			o.bytes[k].Store(size)
		}
		if _, err := tx.CreateBucketIfNotExists(inputBucket); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(stateBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox: init %s: %w", path, err)
	}
	o.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "frostline_edge_outbox_dropped_total", Help: "Telemetry batches dropped, oldest first, to keep the outbox within its bounds."})
	o.commits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "frostline_edge_outbox_commits_total", Help: "Outbox transactions committed (each fsynced)."})
	if reg != nil {
		for k := range numKinds {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "frostline_edge_outbox_entries", Help: "Messages waiting in the outbox.", ConstLabels: prometheus.Labels{"queue": k.String()}},
				func() float64 { return float64(o.entries[k].Load()) }))
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "frostline_edge_outbox_bytes", Help: "Payload bytes waiting in the outbox.", ConstLabels: prometheus.Labels{"queue": k.String()}},
				func() float64 { return float64(o.bytes[k].Load()) }))
		}
		reg.MustRegister(o.dropped, o.commits)
	}
	if o.entries[Incidents].Load()+o.entries[Telemetry].Load() > 0 {
		o.ready <- struct{}{}
	}
	return o, nil
}

// ReleaseMapped drops the file's pages from the process's resident set.
// bbolt reads the file through a shared memory mapping, and every page it
// has read (entries the forwarder sent, pages freed since, the
// checkpoint) stays counted in the agent's RSS although it is only page
// cache: after an hour of a large store's telemetry that was as much as
// the agent's heap. The agent calls this after each checkpoint and
// telemetry batch.
func (o *Outbox) ReleaseMapped() error {
	err := o.db.View(func(tx *bolt.Tx) error {
		// The mapping cannot move while a read transaction is open:
		// bbolt remaps only under a lock that waits for readers.
		return releaseMapped(o.db.Info().Data, tx.Size())
	})
	if err != nil {
		return fmt.Errorf("outbox: release mapped pages: %w", err)
	}
	return nil
}

// Close closes the file.
func (o *Outbox) Close() error { return o.db.Close() }

// Ready is signalled after a Commit that queued something, so that the
// forwarder wakes without polling.
func (o *Outbox) Ready() <-chan struct{} { return o.ready }

// Len is the number of entries waiting in queue k.
func (o *Outbox) Len(k Kind) int { return int(o.entries[k].Load()) }

// Commit writes b in one fsynced transaction.
func (o *Outbox) Commit(b Batch) error {
	var added, dropped int
	var droppedBytes int64
	now := time.Now()
	err := o.db.Update(func(tx *bolt.Tx) error {
		added, dropped, droppedBytes = 0, 0, 0
		// The entries are encoded into one buffer, reused from the last
		// commit when it is small: bbolt needs the values until the
		// transaction commits, and copies them then.
		size := 0
		for _, list := range [numKinds][]Entry{b.Incidents, b.Telemetry} {
			for i := range list {
				size += encodedLen(&list[i])
			}
		}
		buf := o.encodeBuf[:0]
		if cap(buf) < size {
			buf = make([]byte, 0, size)
		}
		for k, list := range [numKinds][]Entry{b.Incidents, b.Telemetry} {
			bk := tx.Bucket(buckets[k])
			for i := range list {
				seq, err := bk.NextSequence()
				if err != nil {
					return err
				}
				list[i].Seq, list[i].Queued = seq, now
				start := len(buf)
				buf = appendEncoded(buf, &list[i])
				if err := bk.Put(key(seq), buf[start:]); err != nil {
					return err
				}
				added++
			}
		}
		o.encodeBuf = nil
		if cap(buf) <= keepEncodeBuffer {
			o.encodeBuf = buf
		}
		if b.Checkpoint != nil {
			if err := tx.Bucket(stateBucket).Put(checkpointKey, b.Checkpoint); err != nil {
				return err
			}
			if err := tx.DeleteBucket(inputBucket); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(inputBucket); err != nil {
				return err
			}
		} else if b.Input != nil {
			in := tx.Bucket(inputBucket)
			seq, err := in.NextSequence()
			if err != nil {
				return err
			}
			if err := in.Put(key(seq), b.Input); err != nil {
				return err
			}
		}
		if len(b.Telemetry) > 0 {
			dropped, droppedBytes = o.trimTelemetry(tx, b.Telemetry)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: commit: %w", err)
	}
	o.commits.Inc()
	// The transaction is durable: only now do the counters move.
	for k, list := range [numKinds][]Entry{b.Incidents, b.Telemetry} {
		var size int64
		for i := range list {
			size += int64(encodedLen(&list[i]))
		}
		o.entries[k].Add(int64(len(list)))
		o.bytes[k].Add(size)
	}
	if dropped > 0 {
		o.entries[Telemetry].Add(-int64(dropped))
		o.bytes[Telemetry].Add(-droppedBytes)
		o.dropped.Add(float64(dropped))
	}
	if added > 0 {
		select {
		case o.ready <- struct{}{}:
		default:
		}
	}
	return nil
}

// trimTelemetry drops the oldest telemetry until the queue, with the batch
// being added, is within bounds, and returns how many entries and bytes it
// dropped. The caller moves the counters once the transaction commits.
func (o *Outbox) trimTelemetry(tx *bolt.Tx, added []Entry) (dropped int, droppedBytes int64) {
	n := o.entries[Telemetry].Load() + int64(len(added))
	size := o.bytes[Telemetry].Load()
	for i := range added {
		size += int64(encodedLen(&added[i]))
	}
	c := tx.Bucket(buckets[Telemetry]).Cursor()
	for k, v := c.First(); k != nil && (n > int64(o.opts.MaxTelemetry) || size > o.opts.MaxTelemetryBytes); k, v = c.First() {
		if err := c.Delete(); err != nil {
			break
		}
		n--
		size -= int64(len(v))
		dropped++
		droppedBytes += int64(len(v))
	}
	return dropped, droppedBytes
}

// Checkpoint returns the stored rule-engine checkpoint (nil when there is
// none) and the input logged since, oldest first.
func (o *Outbox) Checkpoint() (cp []byte, input [][]byte, err error) {
	err = o.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(stateBucket).Get(checkpointKey); v != nil {
			cp = append([]byte(nil), v...)
		}
		return tx.Bucket(inputBucket).ForEach(func(_, v []byte) error {
			input = append(input, append([]byte(nil), v...))
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("outbox: checkpoint: %w", err)
	}
	return cp, input, nil
}

// NextBytes bounds what one Next copies out of the file: at least one
// entry, then no more than this many payload bytes. A large store's
// telemetry batch is a few hundred kilobytes, and a backlog of them read
// max at a time was tens of megabytes of heap; and what one Next hands the
// forwarder is what an incident raised meanwhile waits behind.
const NextBytes = 256 << 10

// Next returns up to max of the oldest entries (and up to NextBytes of
// them), from the incident queue when it has any, else from telemetry:
// incidents never wait behind a telemetry backlog. It returns no entries
// when both are empty. Its cost is that of the entries it returns, not
// of the queue's length.
func (o *Outbox) Next(max int) (Kind, []Entry, error) {
	var kind Kind
	var out []Entry
	err := o.db.View(func(tx *bolt.Tx) error {
		for k := range numKinds {
			c := tx.Bucket(buckets[k]).Cursor()
			size := 0
			for key, v := c.First(); key != nil && len(out) < max && (len(out) == 0 || size+len(v) <= NextBytes); key, v = c.Next() {
				size += len(v)
				e, err := decode(v)
				if err != nil {
					return fmt.Errorf("entry %s/%d: %w", k, binary.BigEndian.Uint64(key), err)
				}
				e.Seq = binary.BigEndian.Uint64(key)
				out = append(out, e)
			}
			if len(out) > 0 {
				kind = k
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("outbox: next: %w", err)
	}
	return kind, out, nil
}

// Remove deletes forwarded entries from queue k.
func (o *Outbox) Remove(k Kind, seqs ...uint64) error {
	var n, size int64
	err := o.db.Update(func(tx *bolt.Tx) error {
		n, size = 0, 0
		b := tx.Bucket(buckets[k])
		for _, s := range seqs {
			if v := b.Get(key(s)); v != nil {
				n++
				size += int64(len(v))
				if err := b.Delete(key(s)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: remove: %w", err)
	}
	o.entries[k].Add(-n)
	o.bytes[k].Add(-size)
	return nil
}

func key(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// keepEncodeBuffer is the largest encoding buffer kept from one commit
// to the next (a large store's minute is left to the collector).
const keepEncodeBuffer = 256 << 10

// appendEncoded appends e laid out as the queued time (unix ns, 8 bytes),
// uvarint-prefixed subject and id, then data.
func appendEncoded(b []byte, e *Entry) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(e.Queued.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(e.Subject)))
	b = append(b, e.Subject...)
	b = binary.AppendUvarint(b, uint64(len(e.MsgID)))
	b = append(b, e.MsgID...)
	return append(b, e.Data...)
}

func encodedLen(e *Entry) int {
	return 8 + uvarintLen(len(e.Subject)) + len(e.Subject) + uvarintLen(len(e.MsgID)) + len(e.MsgID) + len(e.Data)
}

func uvarintLen(n int) int {
	w := 1
	for ; n >= 0x80; n >>= 7 {
		w++
	}
	return w
}

var errCorrupt = errors.New("outbox: corrupt entry")

func decode(v []byte) (Entry, error) {
	var e Entry
	if len(v) < 8 {
		return e, errCorrupt
	}
	e.Queued = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
	v = v[8:]
	field := func() (string, bool) {
		n, w := binary.Uvarint(v)
		if w <= 0 || uint64(len(v)-w) < n {
			return "", false
		}
		s := string(v[w : w+int(n)])
		v = v[w+int(n):]
		return s, true
	}
	var ok bool
	if e.Subject, ok = field(); !ok {
		return e, errCorrupt
	}
	if e.MsgID, ok = field(); !ok {
		return e, errCorrupt
	}
	e.Data = append([]byte(nil), v...)
	return e, nil
}
