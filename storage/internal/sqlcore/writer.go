package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

// The writer commits submissions and consent log entries in groups: with
// synchronous=FULL every commit costs an fsync, and one fsync per batch of
// up to batchSize jobs instead of one per job is an order of magnitude more
// submissions per second. It is also the only code in this process that
// appends to the consent log, so the hash chain stays linear.

// Job states: a job can be cancelled by its caller only until the writer
// takes it; from then on the caller waits for the real outcome.
const (
	jobQueued int32 = iota
	jobTaken
	jobCancelled
)

// job is one unit of work of a batch; see commitTx for how it is isolated
// from the other jobs.
type job struct {
	// run does the work; on error its batch runs again with every job in
	// a savepoint, where this job's is rolled back and the chain head
	// restored, so only this job is lost. run may therefore run twice.
	run func(ctx context.Context, b *batch) error
	// undo clears what run set on the caller's values when the job did not
	// commit after all.
	undo func()
	// deferRecords lets the batch insert the log entries this job appends
	// later, together with other jobs' entries in multi-row inserts. Only
	// for jobs that read nothing another job of the batch appends and
	// whose entries nothing in the batch reads (submissions).
	deferRecords bool
	// rowLocks marks jobs that read rows to decide what to write (chat
	// steps, withdrawals) and so lock them (PostgreSQL: FOR UPDATE). A
	// batch with such a job takes the chain lock before running any job:
	// the chain lock always comes before row locks, or two servers could
	// each hold what the other waits for.
	rowLocks bool
	state    atomic.Int32
	done     chan error
}

// chain is the head of the consent log: the last id and hash.
type chain struct {
	lastID int64
	head   string
	// lastTime is the newest entry's time. Entry times never go backwards
	// (see appendRecord), so a time range maps to an id range.
	lastTime time.Time
}

// batch is what a job sees: the transaction, lazily prepared statements and
// the chain head.
type batch struct {
	db *DB
	w  *writer
	tx *Tx
	// chain is the head of the log, read (under the chain lock) when the
	// batch first needs it: a batch of submissions inserts its rows and
	// only then locks, so other servers' batches wait only for the head
	// read, the entries' insert and the commit.
	chain *chain
	stmts map[string]*sql.Stmt

	// deferRecords is set while a job with deferRecords runs in a batch
	// without savepoints; appendRecord then queues its entries in pending,
	// and flushRecords inserts them.
	deferRecords bool
	pending      []*formbuilder.ConsentRecord

	// On an engine that reserves ids (Dialect.ReservesIDs), the jobs with
	// deferRecords (submissions) defer their submission row too:
	// wantSubIDs is how many of them have not run, subIDs the ids reserved
	// and not yet given, pendingSubs the queued rows' arguments, each row
	// its id first (insertSubmissionWithIDSQL).
	wantSubIDs  int
	subIDs      []int64
	pendingSubs []any

	// notifications caches each form's notifications column for the
	// batch: no job changes forms, and nothing else writes while the
	// batch holds the write transaction.
	notifications map[int64]string

	// ipMode is the settings' IP mode, read (under the shared settings
	// lock) when the batch first stores an address or appends.
	ipMode string
}

// storedIP returns ip as the settings say it is to be stored. The settings
// are read in the batch's transaction, after the shared settings lock,
// which SaveSettings takes exclusively: so a batch stores addresses as the
// settings were when it commits, and once a save returned no batch uses
// the old ones.
func (b *batch) storedIP(ctx context.Context, ip string) (string, error) {
	if err := b.loadIPMode(ctx); err != nil {
		return "", err
	}
	return formbuilder.ApplyIPMode(b.ipMode, ip), nil
}

// loadIPMode reads the IP mode on first use in the batch. It must come
// before the chain lock (see head) and outside a job's savepoint: a lock
// taken in a savepoint that rolls back is released, while ipMode stays.
func (b *batch) loadIPMode(ctx context.Context) error {
	if b.ipMode != "" {
		return nil
	}
	q, args := b.db.d.SettingsForWrite()
	row, err := b.queryRow(ctx, q, args...)
	if err != nil {
		return err
	}
	st, err := scanSettings(row)
	if err != nil {
		return err
	}
	b.ipMode = st.IPMode
	return nil
}

// exec runs q in the batch's transaction, through a cached statement where
// the dialect wants them.
func (b *batch) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if !b.db.d.CacheStatements() {
		return b.tx.ExecContext(ctx, q, args...)
	}
	s, err := b.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// queryRow runs q in the batch's transaction like exec.
func (b *batch) queryRow(ctx context.Context, q string, args ...any) (*sql.Row, error) {
	if !b.db.d.CacheStatements() {
		return b.tx.QueryRowContext(ctx, q, args...), nil
	}
	s, err := b.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.QueryRowContext(ctx, args...), nil
}

// insertID runs the INSERT q in the batch and returns the new row's id.
func (b *batch) insertID(ctx context.Context, q string, args ...any) (int64, error) {
	if !b.db.d.ReturningID() {
		res, err := b.exec(ctx, q, args...)
		if err != nil {
			return 0, err
		}
		return res.LastInsertId()
	}
	row, err := b.queryRow(ctx, q+" RETURNING id", args...)
	if err != nil {
		return 0, err
	}
	var id int64
	return id, row.Scan(&id)
}

// head returns the chain head, taking the chain lock and reading it on
// first use in the batch.
func (b *batch) head(ctx context.Context) (*chain, error) {
	if b.chain != nil {
		return b.chain, nil
	}
	// The settings lock comes first: SaveSettings waits for it while
	// holding nothing else, and a batch holding the chain lock must never
	// wait for it behind a save.
	if err := b.loadIPMode(ctx); err != nil {
		return nil, err
	}
	q, args := b.db.d.ChainHead()
	row, err := b.queryRow(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	c, err := scanChain(row)
	if err != nil {
		return nil, err
	}
	b.chain = &c
	return b.chain, nil
}

// stmt returns q prepared for this batch's transaction; a batch runs the
// same few inserts many times. A query the writer has prepared for good is
// only bound to the transaction; any other is prepared here, and the writer
// prepares it for good before its next batch.
func (b *batch) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if s, ok := b.stmts[q]; ok {
		return s, nil
	}
	var s *sql.Stmt
	if ps, ok := b.w.prepared[q]; ok {
		s = b.tx.StmtContext(ctx, ps)
	} else {
		var err error
		if s, err = b.tx.PrepareContext(ctx, q); err != nil {
			return nil, err
		}
		b.w.unprepared = append(b.w.unprepared, q)
	}
	b.stmts[q] = s
	return s, nil
}

// appendRecord gives r (whose Time the job has set) the next id and its
// place in the hash chain, inserts it and advances the head. On error the
// head is unchanged. Ids are max+1 rather than SQLite's choice because the
// hash covers the id, and it must be known before the insert.
//
// While a job with deferRecords runs, the entry is only queued: flushRecords
// seals and inserts it with the others.
func (b *batch) appendRecord(ctx context.Context, r *formbuilder.ConsentRecord) error {
	if b.deferRecords {
		b.pending = append(b.pending, r)
		return nil
	}
	c, err := b.head(ctx)
	if err != nil {
		return err
	}
	c.seal(r)
	if _, err := b.exec(ctx, insertRecordSQL, recordArgs(r)...); err != nil {
		return err
	}
	c.advance(r)
	return nil
}

// seal gives r the next id, a time not before the head's and its hash.
func (c *chain) seal(r *formbuilder.ConsentRecord) {
	r.ID = c.lastID + 1
	// A clock step backwards (NTP, a VM resumed) must not put an entry
	// before its predecessor: lists turn date filters into id bounds, and
	// the log reads best in one order anyway.
	if r.Time.Before(c.lastTime) {
		r.Time = c.lastTime
	}
	r.Seal(c.head)
}

// advance makes the sealed r the head.
func (c *chain) advance(r *formbuilder.ConsentRecord) {
	c.lastID, c.head, c.lastTime = r.ID, r.Hash, r.Time
}

// flushSizes are the row counts of the multi-row inserts the flushes use
// on an engine that prepares statements itself (SQLite): a few fixed
// statements, each prepared once, any count the sum of a few.
var flushSizes = [...]int{64, 16, 4, 1}

// maxExactRows bounds the rows of one insert where the dialect takes a
// statement of any row count (Dialect.ExactInserts): 128 log entries of 24
// columns are 3,072 parameters, far below PostgreSQL's 65,535.
const maxExactRows = 128

// multiInsert holds an INSERT of one row as statements of flushSizes[i]
// rows each, and of any count up to maxExactRows.
type multiInsert struct {
	sql    [len(flushSizes)]string
	one    string
	values string
	width  int // arguments per row
	exact  sync.Map
}

func newMultiInsert(one string) *multiInsert {
	values := one[strings.Index(one, " VALUES ")+len(" VALUES "):]
	m := &multiInsert{one: one, values: values, width: strings.Count(values, "?")}
	for i, n := range flushSizes {
		m.sql[i] = one + strings.Repeat(", "+values, n-1)
	}
	return m
}

// rows returns the statement inserting n rows.
func (m *multiInsert) rows(n int) string {
	if q, ok := m.exact.Load(n); ok {
		return q.(string)
	}
	q := m.one + strings.Repeat(", "+m.values, n-1)
	m.exact.Store(n, q)
	return q
}

// insertRecords and insertSubmissions are the multi-row inserts of the
// flushes.
var (
	insertRecords     = newMultiInsert(insertRecordSQL)
	insertSubmissions = newMultiInsert(insertSubmissionWithIDSQL)
)

// insertRows inserts the rows whose arguments follow each other in args,
// with as few statements of m as fit: one per maxExactRows rows where the
// dialect takes any row count, else those of flushSizes.
func (b *batch) insertRows(ctx context.Context, m *multiInsert, args []any) error {
	for len(args) > 0 {
		rows := len(args) / m.width
		var q string
		if b.db.d.ExactInserts() {
			rows = min(rows, maxExactRows)
			q = m.rows(rows)
		} else {
			i := 0
			for flushSizes[i] > rows {
				i++
			}
			rows, q = flushSizes[i], m.sql[i]
		}
		n := rows * m.width
		if _, err := b.exec(ctx, q, args[:n]...); err != nil {
			return err
		}
		args = args[n:]
	}
	return nil
}

// flush inserts what the jobs so far deferred: submissions, then log
// entries.
func (b *batch) flush(ctx context.Context) error {
	if err := b.flushSubmissions(ctx); err != nil {
		return err
	}
	return b.flushRecords(ctx)
}

// deferSubmission gives a submission the next id reserved for the batch
// and queues its row (args of insertSubmissionSQL) for flushSubmissions.
// On PostgreSQL an INSERT … RETURNING per submission is a round trip, and
// the writer waits for it with every caller of the batch. One multi-row
// insert per 64 rows took the server's CPU per submission from 213–216 µs
// to 131–141 µs and PostgreSQL's from 134–143 µs to 95–104 µs, and the
// submissions per second from 2,175–2,206 to 3,193–3,308 (wrk -c64 against
// one server, the two builds alternating, a shared 2-core VM at load 7).
func (b *batch) deferSubmission(ctx context.Context, args []any) (int64, error) {
	if len(b.subIDs) == 0 {
		ids, err := b.db.d.ReserveIDs(ctx, b.tx, "submissions", max(1, b.wantSubIDs))
		if err != nil {
			return 0, err
		}
		b.subIDs = ids
	}
	id := b.subIDs[0]
	b.subIDs = b.subIDs[1:]
	b.wantSubIDs--
	b.pendingSubs = append(append(b.pendingSubs, id), args...)
	return id, nil
}

// flushSubmissions inserts the submissions deferSubmission queued.
func (b *batch) flushSubmissions(ctx context.Context) error {
	if len(b.pendingSubs) == 0 {
		return nil
	}
	if err := b.insertRows(ctx, insertSubmissions, b.pendingSubs); err != nil {
		return err
	}
	b.pendingSubs = b.pendingSubs[:0]
	return nil
}

// flushRecords inserts the entries appendRecord deferred, in chain order,
// many rows per statement: one statement (and one statement journal, which
// the insert guard trigger makes SQLite keep) per row cost about as much as
// the rest of a submission. The insert guard still checks every row.
func (b *batch) flushRecords(ctx context.Context) error {
	if len(b.pending) == 0 {
		return nil
	}
	c, err := b.head(ctx)
	if err != nil {
		return err
	}
	// Sealed in a copy of the head, so that a failed insert leaves the
	// batch's head as it was.
	next := *c
	for _, r := range b.pending {
		next.seal(r)
		next.advance(r)
	}
	args := make([]any, 0, len(b.pending)*insertRecords.width)
	for _, r := range b.pending {
		args = append(args, recordArgs(r)...)
	}
	if err := b.insertRows(ctx, insertRecords, args); err != nil {
		return err
	}
	*c = next
	b.pending = b.pending[:0]
	return nil
}

type writer struct {
	db        *DB
	batchSize int
	queue     chan *job
	finished  chan struct{}

	// mu orders sends on queue before its close: senders hold it shared.
	mu     sync.RWMutex
	closed bool

	// prepared are the batches' statements, prepared on the writer's
	// connection outside any transaction and reused by every batch:
	// preparing them per batch (the record insert compiles its trigger)
	// cost about as much as the inserts of a few jobs. Only the writer
	// goroutine touches prepared and unprepared.
	prepared   map[string]*sql.Stmt
	unprepared []string

	// hold is taken for a moment before every batch's transaction, so a
	// test can make the writer wait (PauseWriter).
	hold sync.Mutex

	// Counters for tests and benchmarks.
	batches atomic.Int64
	jobs    atomic.Int64
	// retried counts batches that ran again with savepoints.
	retried atomic.Int64
}

// maxPrepared bounds the statements kept; queries are constants in
// practice, but one built from a filter must not grow the set forever.
const maxPrepared = 64

// prepareSeen prepares for good the queries the last batches prepared for
// themselves. It runs between batches, when the writer holds no
// transaction and the connection is free.
func (w *writer) prepareSeen(ctx context.Context) {
	for _, q := range w.unprepared {
		if _, ok := w.prepared[q]; ok || len(w.prepared) >= maxPrepared {
			continue
		}
		// A failure only means the next batch prepares q again.
		if ps, err := w.db.w.PrepareContext(ctx, q); err == nil {
			w.prepared[q] = ps
		}
	}
	w.unprepared = w.unprepared[:0]
}

func newWriter(db *DB) *writer {
	w := &writer{
		db:        db,
		batchSize: db.opts.BatchSize,
		queue:     make(chan *job, 4*db.opts.BatchSize),
		finished:  make(chan struct{}),
		prepared:  map[string]*sql.Stmt{},
	}
	go w.run()
	return w
}

// do queues j and waits for its outcome. A caller whose ctx ends before the
// writer took the job gets ctx's error and nothing is stored; once taken, it
// waits for the commit so that it never reports a stored consent as failed.
func (w *writer) do(ctx context.Context, j *job) error {
	if err := ctx.Err(); err != nil {
		return formbuilder.Internal(err)
	}
	j.done = make(chan error, 1)
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return formbuilder.Internal(ErrClosed)
	}
	select {
	case w.queue <- j:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return formbuilder.Internal(ctx.Err())
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobCancelled) {
			return formbuilder.Internal(ctx.Err())
		}
		return <-j.done
	}
}

// isClosed reports whether close was called.
func (w *writer) isClosed() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.closed
}

// close stops accepting jobs, lets the writer drain the queue and waits for
// it. It reports false when the writer was closed already.
func (w *writer) close() bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	w.closed = true
	close(w.queue)
	w.mu.Unlock()
	<-w.finished
	return true
}

func (w *writer) run() {
	defer close(w.finished)
	defer func() {
		for _, s := range w.prepared {
			_ = s.Close()
		}
	}()
	jobs := make([]*job, 0, w.batchSize)
	for {
		j, ok := <-w.queue
		if !ok {
			return
		}
		jobs = append(jobs[:0], j)
		// Everything that queued up while the last batch was committing
		// goes into this one.
	fill:
		for len(jobs) < w.batchSize {
			select {
			case j, ok := <-w.queue:
				if !ok {
					break fill
				}
				jobs = append(jobs, j)
			default:
				break fill
			}
		}
		w.commit(jobs)
	}
}

// commit runs the jobs that are still wanted in one transaction, each in a
// savepoint, and tells every caller its own outcome after the commit.
func (w *writer) commit(jobs []*job) {
	live := make([]*job, 0, len(jobs))
	for _, j := range jobs {
		if j.state.CompareAndSwap(jobQueued, jobTaken) {
			live = append(live, j)
		}
	}
	if len(live) == 0 {
		return
	}
	w.batches.Add(1)
	w.jobs.Add(int64(len(live)))
	errs := make([]error, len(live))
	start := time.Now()
	err := w.commitTx(live, errs)
	if obs := w.db.opts.Observer; obs != nil {
		obs.ObserveBatch(len(live), time.Since(start), err)
	}
	if err != nil {
		// The whole transaction is gone: so is every job in it.
		for i := range errs {
			if errs[i] == nil {
				errs[i] = formbuilder.Internal(err)
			}
		}
	}
	for i, j := range live {
		if errs[i] != nil && j.undo != nil {
			j.undo()
		}
		j.done <- errs[i]
	}
}

// commitTx fills errs with per-job failures and returns an error when the
// transaction as a whole failed.
//
// The chain head is read at the start of every batch, under the write lock
// of the immediate transaction, rather than kept across batches: one indexed
// lookup per batch, and a second process appending to the same file (the
// CLI, a restarted server overlapping the old one) cannot fork the chain.
// Within the batch the head lives in memory and is restored when a job's
// savepoint is rolled back.
//
// A batch first runs without savepoints: SAVEPOINT, RELEASE and the
// savepoint journal cost about as much as a submission's inserts, and jobs
// almost never fail (their input is validated before they are queued). When
// one does fail, that transaction is rolled back as a whole, nothing of it
// is stored and no caller has been answered yet, and the batch runs again
// with every job in its own savepoint, so the failure stays that job's own.
// Jobs can run twice: each run sets everything it reports from scratch.
func (w *writer) commitTx(live []*job, errs []error) error {
	ok, err := w.commitFast(live)
	if ok || err != nil {
		return err
	}
	w.retried.Add(1)
	return w.commitSavepoints(live, errs)
}

// begin starts a batch's transaction. With lockFirst it takes the chain
// lock and reads the head at once; otherwise the first append does.
func (w *writer) begin(ctx context.Context, lockFirst bool) (*batch, error) {
	w.hold.Lock()
	w.hold.Unlock() //nolint:staticcheck // only waits for PauseWriter
	if w.db.d.CacheStatements() {
		w.prepareSeen(ctx)
	}
	tx, err := w.db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	b := &batch{db: w.db, w: w, tx: tx, stmts: map[string]*sql.Stmt{}, notifications: map[int64]string{}}
	// With lockFirst the head is read at once: loadIPMode (which head
	// calls first) must not run for the first time inside a savepoint.
	if lockFirst {
		if _, err := b.head(ctx); err != nil {
			_ = tx.Rollback()
			return nil, err
		}
	}
	return b, nil
}

// commitFast runs all jobs in one transaction without savepoints. It
// reports ok when they all succeeded and the transaction committed; when a
// job failed, it rolls everything back and reports !ok with a nil error.
func (w *writer) commitFast(live []*job) (ok bool, err error) {
	ctx := context.Background()
	lockFirst := false
	for _, j := range live {
		lockFirst = lockFirst || j.rowLocks
	}
	b, err := w.begin(ctx, lockFirst)
	if err != nil {
		return false, err
	}
	for _, j := range live {
		if j.deferRecords {
			b.wantSubIDs++
		}
	}
	for _, j := range live {
		// A job that may read the log or submissions sees every one
		// before it.
		if !j.deferRecords && (len(b.pending) > 0 || len(b.pendingSubs) > 0) {
			if err := b.flush(ctx); err != nil {
				_ = b.tx.Rollback()
				return false, nil
			}
		}
		b.deferRecords = j.deferRecords
		if jerr := runJob(ctx, j, b); jerr != nil {
			// Rolled back whatever state the error left the transaction
			// in; an error here only means it had ended already.
			_ = b.tx.Rollback()
			return false, nil
		}
	}
	b.deferRecords = false
	if err := b.flush(ctx); err != nil {
		// The insert guard or a constraint refused an entry: which job's is
		// for the batch with savepoints to find out.
		_ = b.tx.Rollback()
		return false, nil
	}
	return true, w.finish(ctx, b)
}

// finish announces the batch's changes and commits.
func (w *writer) finish(ctx context.Context, b *batch) error {
	if err := w.db.announce(ctx, b.tx); err != nil {
		_ = b.tx.Rollback()
		return err
	}
	if err := b.tx.Commit(); err != nil {
		_ = b.tx.Rollback()
		return err
	}
	w.db.committed(b.tx)
	return nil
}

// commitSavepoints runs the jobs in one transaction, each in its own
// savepoint, and fills errs with their failures.
func (w *writer) commitSavepoints(live []*job, errs []error) error {
	ctx := context.Background()
	// The head is restored when a job's savepoint is rolled back, so it is
	// read (and locked) first.
	b, err := w.begin(ctx, true)
	if err != nil {
		return err
	}
	tx, c := b.tx, b.chain
	// exec runs one of the savepoint statements, prepared once per batch:
	// parsing them for every job cost a third as much as the job's inserts.
	exec := func(q string) error {
		_, err := b.exec(ctx, q)
		return err
	}
	for i, j := range live {
		if err := exec("SAVEPOINT job"); err != nil {
			_ = tx.Rollback()
			return err
		}
		before, changes := *c, len(tx.changes)
		if jerr := runJob(ctx, j, b); jerr != nil {
			*c = before
			tx.changes = tx.changes[:changes]
			errs[i] = dbErr(w.db.d, jerr)
			if err := exec("ROLLBACK TO job"); err != nil {
				// Some errors (disk full, I/O) end the transaction
				// itself; then nothing of the batch is stored.
				_ = tx.Rollback()
				return err
			}
		}
		if err := exec("RELEASE job"); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return w.finish(ctx, b)
}

// HeadQuery selects the head of the log: the newest entry's id, hash and
// time.
const HeadQuery = "SELECT id, hash, time FROM consent_records ORDER BY id DESC LIMIT 1"

// scanChain reads the head of the log from a row of HeadQuery (or of
// Dialect.ChainHead): the newest entry, or genesis.
func scanChain(row *sql.Row) (chain, error) {
	c := chain{head: formbuilder.GenesisHash}
	var t string
	err := row.Scan(&c.lastID, &c.head, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if c.lastTime, err = parseTime(t); err != nil {
		return c, err
	}
	return c, nil
}

// runJob turns a panic in a job into an error for that job alone, so one
// bad input cannot take the writer (and every waiting caller) down.
func runJob(ctx context.Context, j *job, b *batch) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("storage: job panicked: %v", p)
		}
	}()
	return j.run(ctx, b)
}
