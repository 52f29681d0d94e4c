package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress prints one line a second while a run goes on.
type progress struct {
	w         io.Writer
	clients   []*client
	connected atomic.Int64
	name      atomic.Value // string: the current phase
	senders   atomic.Pointer[[]*sender]
}

func newProgress(w io.Writer, clients []*client) *progress {
	p := &progress{w: w, clients: clients}
	p.name.Store("")
	return p
}

func (p *progress) phase(name string)       { p.name.Store(name) }
func (p *progress) sendersRef(s []*sender)  { p.senders.Store(&s) }
func (p *progress) current() (phase string) { return p.name.Load().(string) }
func (p *progress) total(f func(*client) int64) (n int64) {
	for _, c := range p.clients {
		n += f(c)
	}
	return n
}

// start begins printing and returns the function that stops it (safe to
// call more than once).
func (p *progress) start() (stop func()) {
	if p.w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		began := time.Now()
		var lastDelivered, lastSent int64
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			delivered := p.total(func(c *client) int64 { return c.delivered.Load() })
			var sent int64
			if s := p.senders.Load(); s != nil {
				for _, snd := range *s {
					if snd != nil {
						sent += snd.sent.Load()
					}
				}
			}
			fmt.Fprintf(p.w, "%6.1fs %-7s connected=%d sent=%d (+%d/s) delivered=%d (+%d/s)\n",
				time.Since(began).Seconds(), p.current(), p.connected.Load(),
				sent, sent-lastSent, delivered, delivered-lastDelivered)
			lastDelivered, lastSent = delivered, sent
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done); <-finished })
	}
}
