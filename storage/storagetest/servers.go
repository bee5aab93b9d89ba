package storagetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Guarantees that must hold with several server processes on one
// database: each test opens a second handle (Backend.Reopen) and races the
// two.

// testTwoHandlesClaimEachMessageOnce: workers of two servers asking at
// once never get the same message.
func testTwoHandlesClaimEachMessageOnce(t *testing.T, open Opener) {
	e := newEnv(t, open)
	fx := newFixture(t, e)
	withNotifications(t, e.db, fx.FormA, formbuilder.Notifications{Webhooks: testNotifications.Webhooks})
	const subs = 30
	for range subs {
		fx.Submit(t, fx.FormA, "192.0.2.1")
	}
	other := e.Reopen(t)
	now := time.Now().UTC().Add(time.Hour)
	kinds := []string{formbuilder.DeliveryWebhook}
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for _, h := range []Store{e.db, other, e.db, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := h.ClaimDue(e.ctx, now, now.Add(time.Hour), 3, kinds)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					claimed[m.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Len(t, claimed, 2*subs, "every message claimed")
	for id, n := range claimed {
		assert.Equal(t, 1, n, "message %d claimed %d times", id, n)
	}
}

// testSecretCreatedOnce: two fresh servers starting together end up with
// one signing key.
func testSecretCreatedOnce(t *testing.T, open Opener) {
	e := newEnv(t, open)
	other := e.Reopen(t)
	keys := make([][]byte, 8)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range keys {
		h := e.db
		if i%2 == 1 {
			h = other
		}
		wg.Add(1)
		go func() { defer wg.Done(); keys[i], errs[i] = h.Secret(context.Background()) }()
	}
	wg.Wait()
	for i := range keys {
		require.NoError(t, errs[i])
		assert.Equal(t, keys[0], keys[i])
	}
	n, err := e.QueryInt(e.ctx, "SELECT COUNT(*) FROM secrets")
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}

// testTwoHandlesChat: first messages of one visitor on two servers make
// one conversation with one held message; acceptances on both servers
// interleave with submissions in one chain.
func testTwoHandlesChat(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newChatFixture(t, e)
	other := e.Reopen(t)
	visitor := newVisitorID(t)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		h := e.db
		if i%2 == 1 {
			h = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.PostVisitorMessage(e.ctx, f.ch, formbuilder.VisitorPost{VisitorID: visitor, Text: fmt.Sprintf("m%d", i)})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			requireCode(t, formbuilder.ECONFLICT, err)
		}
	}
	assert.Equal(t, 1, ok, "one message is held, the others wait for the answer")
	assert.Equal(t, 1, e.count(t, "conversations"))

	convs := make([]*formbuilder.Conversation, n)
	for i := range convs {
		res, err := f.post(t, newVisitorID(t), fmt.Sprintf("hello %d", i))
		require.NoError(t, err)
		convs[i] = res.Conversation
	}
	accErrs := make(chan error, 2*n)
	for i := range n {
		h := e.db
		if i%2 == 1 {
			h = other
		}
		sub, recs := f.Submission(t, f.FormA, fmt.Sprintf("v%d@example.com", i), "192.0.2.1")
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := h.AcceptConsent(e.ctx, convs[i].ID, f.record(convs[i]))
			accErrs <- err
		}()
		go func() { defer wg.Done(); accErrs <- other.CreateSubmission(e.ctx, sub, recs) }()
	}
	wg.Wait()
	close(accErrs)
	for err := range accErrs {
		require.NoError(t, err)
	}
	requireVerified(t, e.db, 3*n)
}

func init() {
	register("TwoHandlesClaimEachMessageOnce", testTwoHandlesClaimEachMessageOnce)
	register("SecretCreatedOnce", testSecretCreatedOnce)
	register("TwoHandlesChat", testTwoHandlesChat)
}
