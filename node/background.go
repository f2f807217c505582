package node

import (
	"context"
	"sync"
)

// background runs the node's one-off jobs that outlive the call that starts them (the
// look for an earlier run's discovery, the delayed answer to Home Assistant's birth) under
// Run's context. Run opens it before anything can start a job and closes it on the way out:
// close cancels the jobs and waits for them, and a job started after close does not run.
type background struct {
	mu     sync.Mutex
	ctx    context.Context // nil before open and after close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (b *background) open(ctx context.Context) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ctx, b.cancel = context.WithCancel(ctx)
}

// start runs job in a goroutine of its own, unless the node is not running; job must end
// soon after its context does.
func (b *background) start(job func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx == nil {
		return false
	}
	ctx := b.ctx
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		job(ctx)
	}()
	return true
}

func (b *background) close() {
	b.mu.Lock()
	if b.cancel != nil {
		b.cancel()
	}
	b.ctx, b.cancel = nil, nil
	b.mu.Unlock()
	b.wg.Wait()
}
