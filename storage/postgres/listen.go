package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/internal/sqlcore"
	"github.com/jackc/pgx/v5"
)

// Changes reach every server through LISTEN/NOTIFY: a transaction that
// changes what servers cache sends pg_notify on notifyChannel (delivered
// at its commit, dropped by a rollback), and every server keeps one
// connection of its own, outside the pool, that LISTENs. NOTIFY queues only
// for sessions listening at the time, so a server whose connection was
// lost missed whatever came meanwhile: after reconnecting it delivers a
// ChangeResync, and its subscribers read everything again.
const notifyChannel = "consentforms"

// Listener timing: a connection that has been quiet for listenPing is
// pinged, so that one that died without a word (a dropped network path)
// is noticed; a lost one is made again after a backoff from
// reconnectMin, doubling up to reconnectMax.
var (
	listenPing   = 30 * time.Second
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 5 * time.Second
)

// Notifies: PostgreSQL tells every listening server of a change.
func (dialect) Notifies() bool { return true }

// Notify queues payload for the listeners; PostgreSQL sends it when tx
// commits, in commit order.
func (dialect) Notify(ctx context.Context, tx *sqlcore.Tx, payload string) error {
	_, err := tx.Tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", notifyChannel, payload)
	return err
}

// newListener returns the sqlcore.Listener of a database: one connection
// with the pool's settings (not from the pool, so it neither counts against
// nor blocks pool_max_conns).
func newListener(cfg *pgx.ConnConfig) sqlcore.Listener {
	return func(deliver func(...formbuilder.Change)) (func(), error) {
		ctx, cancel := context.WithCancel(context.Background())
		conn, err := connectListening(ctx, cfg)
		if err != nil {
			cancel()
			return nil, err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			listenLoop(ctx, cfg, conn, deliver)
		}()
		return func() {
			cancel()
			<-done
		}, nil
	}
}

// listenerName is the listening connection's application_name, which
// shows it in pg_stat_activity.
const listenerName = "consentforms listener"

// connectListening opens the listening connection.
func connectListening(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c := cfg.Copy()
	c.RuntimeParams["application_name"] = listenerName
	conn, err := pgx.ConnectConfig(cctx, c)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(cctx, "LISTEN "+notifyChannel); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// listenLoop delivers notifications until ctx ends, making the connection
// again whenever it is lost, with a ChangeResync after each new one.
func listenLoop(ctx context.Context, cfg *pgx.ConnConfig, conn *pgx.Conn, deliver func(...formbuilder.Change)) {
	for {
		receive(ctx, conn, deliver)
		_ = conn.Close(context.Background())
		backoff := reconnectMin
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			var err error
			if conn, err = connectListening(ctx, cfg); err == nil {
				break
			}
			backoff = min(2*backoff, reconnectMax)
		}
		deliver(formbuilder.Change{Kind: formbuilder.ChangeResync})
	}
}

// receive hands every notification on conn to deliver until ctx ends or
// the connection fails.
func receive(ctx context.Context, conn *pgx.Conn, deliver func(...formbuilder.Change)) {
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			deliver(sqlcore.DecodeChanges(n.Payload)...)
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded) || pgconnTimeout(err):
			// Quiet for a while: the wait ends by a read deadline, which
			// leaves the connection usable; make sure it still answers.
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		default:
			return
		}
	}
}

// pgconnTimeout reports whether err is a timeout of the connection's read
// (what a wait that ran out of time returns).
func pgconnTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
