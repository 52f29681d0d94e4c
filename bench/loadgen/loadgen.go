package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one load generator run.
type Config struct {
	Proto string // "apigw", "ceiling" (bench/ceiling, the same protocol) or "socketio"
	// Acks sends apigw messages with a clientMsgId, so that the server
	// acks each (the project's whole send path).
	Acks     bool
	URL      string  // WebSocket URL of the server (loopback only)
	Room     string  // apigw: the room every client joins
	Clients  int     // N: connections, all in one room
	Senders  int     // S: how many of the clients send (clients 0..S-1)
	Rate     float64 // messages per second per sender; 0 = as fast as each sender can write
	Duration time.Duration
	Messages int // messages per sender; when > 0 it bounds the run instead of Duration
	Size     int // text size in bytes (at least the header, about 40 bytes)

	ConnectConcurrency int           // dials in flight at once (the ramp)
	ConnectTimeout     time.Duration // per connection, handshake included
	WriteTimeout       time.Duration // per message
	Settle             time.Duration // pause after connecting, before measuring memory and sending
	Drain              time.Duration // longest wait for late deliveries after the last send
	DrainIdle          time.Duration // stop draining after this long without a delivery
	CloseTimeout       time.Duration // longest wait for the close handshakes
	Pollers            int           // epoll loops reading the connections

	ServerPID int       // if > 0, read its memory from /proc
	Progress  io.Writer // one line per second while running; nil for none
}

// Hard bounds, whatever the flags say.
const (
	maxClients           = 50_000
	maxMessagesPerSender = 10_000_000
	maxDuration          = time.Hour
)

func (c *Config) setDefaults() {
	if c.Proto == "" {
		c.Proto = "apigw"
	}
	if c.URL == "" {
		c.URL = defaultURL(c.Proto)
	}
	if c.Room == "" {
		c.Room = "loadgen"
	}
	if c.ConnectConcurrency <= 0 {
		c.ConnectConcurrency = 32
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 30 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 60 * time.Second
	}
	if c.DrainIdle <= 0 {
		c.DrainIdle = 5 * time.Second
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = 10 * time.Second
	}
	if c.Pollers <= 0 {
		c.Pollers = 1
	}
	if c.Size < 0 {
		c.Size = 0
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Clients < 2 || c.Clients > maxClients {
		errs = append(errs, fmt.Errorf("clients must be 2..%d, got %d", maxClients, c.Clients))
	}
	if c.Senders < 1 || c.Senders > c.Clients {
		errs = append(errs, fmt.Errorf("senders must be 1..clients (%d), got %d", c.Clients, c.Senders))
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		errs = append(errs, fmt.Errorf("rate must be >= 0, got %v", c.Rate))
	}
	if c.Messages < 0 || c.Messages > maxMessagesPerSender {
		errs = append(errs, fmt.Errorf("messages must be 0..%d, got %d", maxMessagesPerSender, c.Messages))
	}
	if c.Messages == 0 && (c.Duration <= 0 || c.Duration > maxDuration) {
		errs = append(errs, fmt.Errorf("duration must be in (0, %v] when messages is 0, got %v", maxDuration, c.Duration))
	}
	if c.Pollers > 64 {
		errs = append(errs, fmt.Errorf("pollers must be at most 64, got %d", c.Pollers))
	}
	if c.Size > 64<<10 {
		errs = append(errs, fmt.Errorf("size must be at most 65536, got %d", c.Size))
	}
	if _, err := newProtocol(c.Proto, c.Room, c.Acks); err != nil {
		errs = append(errs, err)
	}
	if _, err := loopbackURL(c.URL); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// loopbackURL parses a ws:// URL and refuses any host that is not this
// machine's loopback: the load generator targets 127.0.0.1 only.
func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", raw, err)
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("url %q: scheme must be ws", raw)
	}
	if !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("url %q: host must be loopback (127.0.0.0/8, ::1 or localhost)", raw)
	}
	return u, nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Result is what a run measured. Durations are in milliseconds in JSON.
type Result struct {
	Proto              string  `json:"proto"`
	URL                string  `json:"url"`
	Clients            int     `json:"clients"`
	Senders            int     `json:"senders"`
	RatePerSender      float64 `json:"ratePerSender"`      // configured, msg/s (0 = unthrottled)
	OfferedMessagesSec float64 `json:"offeredMessagesSec"` // configured total msg/s (0 = unthrottled)
	Size               int     `json:"size"`

	Connected       int     `json:"connected"`
	ConnectFailures int     `json:"connectFailures"`
	ConnectSeconds  float64 `json:"connectSeconds"`
	ConnectError    string  `json:"connectError,omitempty"`
	NoFileLimit     uint64  `json:"noFileLimit"`

	Sent            int64   `json:"sent"`
	SendErrors      int64   `json:"sendErrors"`
	SendError       string  `json:"sendError,omitempty"`
	SendSeconds     float64 `json:"sendSeconds"`     // first scheduled send to last send
	SentMessagesSec float64 `json:"sentMessagesSec"` // achieved
	SenderLagP99Ms  float64 `json:"senderLagP99Ms"`  // how late sends were against their schedule
	SenderLagMaxMs  float64 `json:"senderLagMaxMs"`
	WriteMaxMs      float64 `json:"writeMaxMs"` // longest single send (a full socket buffer shows here)

	Expected            int64   `json:"expected"` // sent × (clients-1)
	Delivered           int64   `json:"delivered"`
	Lost                int64   `json:"lost"`
	Duplicates          int64   `json:"duplicates"`
	Reordered           int64   `json:"reordered"`
	SelfEchoes          int64   `json:"selfEchoes"` // own message received back (must be 0)
	Foreign             int64   `json:"foreign"`    // chat messages not from this run
	Invalid             int64   `json:"invalid"`
	ErrorFrames         int64   `json:"errorFrames"`
	ClosedByServer      int     `json:"closedByServer"` // clients whose session ended before the run did
	ReadError           string  `json:"readError,omitempty"`
	DeliverySeconds     float64 `json:"deliverySeconds"` // first scheduled send to last delivery
	DeliveriesSec       float64 `json:"deliveriesSec"`   // delivered / deliverySeconds
	OfferedDelivSec     float64 `json:"offeredDeliveriesSec"`
	DeliveriesInSend    int64   `json:"deliveriesDuringSend"`    // delivered before the last send
	DeliveriesInSendSec float64 `json:"deliveriesDuringSendSec"` // deliveriesDuringSend / sendSeconds: the server's pace while under load
	DrainEnd            string  `json:"drainEnd"`                // complete, idle, timeout or interrupted

	LatencyP50Ms  float64 `json:"latencyP50Ms"`
	LatencyP90Ms  float64 `json:"latencyP90Ms"`
	LatencyP99Ms  float64 `json:"latencyP99Ms"`
	LatencyP999Ms float64 `json:"latencyP999Ms"`
	LatencyMaxMs  float64 `json:"latencyMaxMs"`
	LatencyMeanMs float64 `json:"latencyMeanMs"`
	// The same measured from each message's scheduled send time: includes
	// any delay of the senders themselves (no coordinated omission).
	SchedLatencyP50Ms float64 `json:"scheduledLatencyP50Ms"`
	SchedLatencyP99Ms float64 `json:"scheduledLatencyP99Ms"`
	SchedLatencyMaxMs float64 `json:"scheduledLatencyMaxMs"`

	ServerPID           int     `json:"serverPid,omitempty"`
	ServerRSSBeforeKiB  int64   `json:"serverRssBeforeKiB,omitempty"`
	ServerRSSConnected  int64   `json:"serverRssConnectedKiB,omitempty"`
	ServerRSSAfterKiB   int64   `json:"serverRssAfterKiB,omitempty"`
	ServerPeakRSSKiB    int64   `json:"serverPeakRssKiB,omitempty"`
	ServerKiBPerConn    float64 `json:"serverKiBPerConnection,omitempty"`
	ServerMemoryErr     string  `json:"serverMemoryError,omitempty"`
	ServerCPUSeconds    float64 `json:"serverCpuSeconds,omitempty"` // user+system, from the first send to the end of the drain
	LoadgenCPUSeconds   float64 `json:"loadgenCpuSeconds"`          // the same window, this process
	MeasuredSeconds     float64 `json:"measuredSeconds"`            // wall time of that window
	Exact               bool    `json:"exact"`                      // every expected delivery, once, in order, nothing else
	Interrupted         bool    `json:"interrupted,omitempty"`
	LoadgenNote         string  `json:"note"`
	StartedAt           string  `json:"startedAt"`
	TotalSeconds        float64 `json:"totalSeconds"`
	ClosedCleanly       int     `json:"closedCleanly"`
	CloseSecondsElapsed float64 `json:"closeSeconds"`
}

// client is one connection and what was read from it. Its poller's
// goroutine owns every field but delivered and lastRecv, which the progress
// and drain loops read; Run reads the rest after the pollers have stopped.
type client struct {
	id      int
	ws      *wsConn
	proto   protocol
	run     string
	closing *atomic.Bool // set when the run closes the connections itself
	timeout time.Duration

	seq          *SeqTracker
	latency      Histogram // from the actual send
	schedLatency Histogram // from the scheduled send
	selfEchoes   int64
	foreign      int64
	errorFrames  int64
	readErr      error
	serverEnded  bool // the server ended the session before the run did
	gotClose     bool // the server sent its close frame
	ended        bool

	delivered atomic.Int64 // unique deliveries
	lastRecv  atomic.Int64 // unix ns of the last unique delivery
}

func (c *client) conn() *wsConn { return c.ws }

func (c *client) connect(ctx context.Context, base *url.URL) error {
	s, err := dialWS(ctx, c.proto.URL(base, c.id))
	if err != nil {
		return err
	}
	if err := c.proto.Open(ctx, s); err != nil {
		s.nc.Close()
		return err
	}
	ws, err := s.detach()
	if err != nil {
		return err
	}
	c.ws = ws
	return nil
}

// onData handles the bytes of one read: every complete frame in them.
func (c *client) onData(data []byte, at time.Time) {
	if c.ended {
		return
	}
	err := c.ws.asm.feed(data, func(_ byte, msg []byte) { c.onMessage(msg, at) }, c.onControl)
	if err != nil {
		c.end(err)
	}
}

func (c *client) onMessage(msg []byte, at time.Time) {
	kind, text := c.proto.Decode(msg)
	switch kind {
	case frameChat:
		p, err := parsePayload(text)
		if err != nil || p.Run != c.run {
			c.foreign++
			return
		}
		if p.Sender == c.id {
			c.selfEchoes++
			return
		}
		if c.seq.Observe(p.Sender, p.Seq) {
			c.latency.Record(at.Sub(p.SentAt))
			c.schedLatency.Record(at.Sub(p.ScheduledAt))
			c.delivered.Add(1)
			c.lastRecv.Store(at.UnixNano())
		}
	case framePing:
		_ = c.ws.writeFrame(opText, c.proto.Pong(), time.Second)
	case frameError:
		c.errorFrames++
	case frameClosing:
		c.end(errors.New("server ended the session"))
	}
}

func (c *client) onControl(op byte, payload []byte) {
	switch op {
	case opPing:
		_ = c.ws.writeFrame(opPong, payload, time.Second)
	case opClose:
		c.gotClose = true
		if !c.closing.Load() {
			_ = c.ws.writeFrame(opClose, payload[:min(len(payload), 2)], time.Second)
			c.end(fmt.Errorf("server closed the connection: %s", closeReason(payload)))
		}
	}
}

// onEnd is the poller's report that the socket reached EOF or failed.
func (c *client) onEnd(err error) {
	c.end(err)
}

func (c *client) end(err error) {
	if c.ended {
		return
	}
	c.ended = true
	if !c.closing.Load() {
		c.serverEnded = true
		c.readErr = err
	}
}

type sender struct {
	sent     atomic.Int64
	lag      Histogram     // owned by the sender goroutine
	writeMax time.Duration // longest write
	err      error
	lastAt   time.Time
	started  time.Time
}

// Run connects the clients, sends, drains and reports. It returns an error
// only when the run could not take place (bad config, clients that could not
// connect); delivery problems are in the Result.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	began := time.Now()
	base, _ := loopbackURL(cfg.URL)
	proto, _ := newProtocol(cfg.Proto, cfg.Room, cfg.Acks)
	run := randomRunID()

	res := Result{
		Proto: cfg.Proto, URL: cfg.URL, Clients: cfg.Clients, Senders: cfg.Senders,
		RatePerSender: cfg.Rate, OfferedMessagesSec: cfg.Rate * float64(cfg.Senders), Size: cfg.Size,
		ServerPID: cfg.ServerPID, StartedAt: began.UTC().Format(time.RFC3339),
		LoadgenNote: "load generator and server share this machine's CPUs",
	}

	limit, err := raiseNoFile(uint64(cfg.Clients) + 256)
	res.NoFileLimit = limit
	if err != nil {
		return res, err
	}

	var memBefore procMemory
	if cfg.ServerPID > 0 {
		if memBefore, err = readProcMemory(cfg.ServerPID); err != nil {
			return res, err
		}
		res.ServerRSSBeforeKiB = memBefore.RSSKiB
	}

	var closing atomic.Bool
	clients := make([]*client, cfg.Clients)
	for i := range clients {
		clients[i] = &client{id: i, proto: proto, run: run, closing: &closing,
			timeout: cfg.WriteTimeout, seq: NewSeqTracker(cfg.Senders)}
	}
	pollers := make([]*poller, cfg.Pollers)
	for i := range pollers {
		p, err := newPoller()
		if err != nil {
			for _, p := range pollers[:i] {
				p.shutdown()
			}
			return res, err
		}
		pollers[i] = p
		go p.run()
	}

	// Connect, at most ConnectConcurrency handshakes in flight.
	connectStart := time.Now()
	progress := newProgress(cfg.Progress, clients)
	progress.phase("connect")
	stopProgress := progress.start()
	defer stopProgress()
	var (
		connMu      sync.Mutex
		connFails   int
		connFirst   error
		connWG      sync.WaitGroup
		sem         = make(chan struct{}, cfg.ConnectConcurrency)
		connAborted atomic.Bool
	)
	for _, c := range clients {
		if ctx.Err() != nil || connAborted.Load() {
			break
		}
		sem <- struct{}{}
		connWG.Add(1)
		go func() {
			defer func() { <-sem; connWG.Done() }()
			dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
			defer cancel()
			err := c.connect(dctx, base)
			if err == nil {
				if err = pollers[c.id%len(pollers)].add(c); err != nil {
					c.ws.close()
					c.ws = nil
				}
			}
			if err != nil {
				connMu.Lock()
				connFails++
				if connFirst == nil {
					connFirst = fmt.Errorf("client %d: %w", c.id, err)
				}
				connMu.Unlock()
				connAborted.Store(true) // a partial room makes the numbers meaningless
				return
			}
			progress.connected.Add(1)
		}()
	}
	connWG.Wait()
	res.ConnectSeconds = time.Since(connectStart).Seconds()
	res.Connected = int(progress.connected.Load())
	res.ConnectFailures = connFails
	if connFirst != nil {
		res.ConnectError = connFirst.Error()
	}

	finish := func() (Result, error) {
		progress.phase("close")
		closeStart := time.Now()
		closing.Store(true)
		res.ClosedCleanly = closeAll(clients, pollers, cfg.CloseTimeout)
		res.CloseSecondsElapsed = time.Since(closeStart).Seconds()
		if cfg.ServerPID > 0 {
			if m, err := readProcMemory(cfg.ServerPID); err == nil {
				res.ServerRSSAfterKiB, res.ServerPeakRSSKiB = m.RSSKiB, m.PeakKiB
			} else if res.ServerMemoryErr == "" {
				res.ServerMemoryErr = err.Error()
			}
		}
		res.TotalSeconds = time.Since(began).Seconds()
		return res, nil
	}

	if res.Connected < cfg.Clients {
		_, _ = finish()
		if connFirst == nil {
			connFirst = ctx.Err()
		}
		return res, fmt.Errorf("connected %d of %d clients (%d failed): %w", res.Connected, cfg.Clients, connFails, connFirst)
	}

	if cfg.Settle > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(cfg.Settle):
		}
	}
	if cfg.ServerPID > 0 {
		if m, err := readProcMemory(cfg.ServerPID); err == nil {
			res.ServerRSSConnected = m.RSSKiB
			res.ServerKiBPerConn = float64(m.RSSKiB-memBefore.RSSKiB) / float64(cfg.Clients)
		} else {
			res.ServerMemoryErr = err.Error()
		}
	}

	// Send: sender k sends message i at start + (i + k/S) / rate.
	perSender := int64(cfg.Messages)
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
		if perSender == 0 {
			perSender = int64(math.Ceil(cfg.Duration.Seconds() * cfg.Rate))
		}
	} else if perSender == 0 {
		perSender = maxMessagesPerSender // bounded by the deadline below
	}
	perSender = min(perSender, maxMessagesPerSender)
	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()
	if cfg.Messages == 0 {
		// Duration mode: a deadline bounds the run even if the sends lag.
		var cancel context.CancelFunc
		sendCtx, cancel = context.WithTimeout(sendCtx, cfg.Duration+time.Second)
		defer cancel()
	}
	serverCPU0, loadgenCPU0, measure0 := time.Duration(-1), selfCPU(), time.Now()
	if cfg.ServerPID > 0 {
		if d, err := readProcCPU(cfg.ServerPID); err == nil {
			serverCPU0 = d
		}
	}
	senders := make([]*sender, cfg.Senders)
	for k := range senders {
		senders[k] = &sender{}
	}
	start := time.Now().Add(50 * time.Millisecond)
	deadline := start.Add(cfg.Duration)
	progress.phase("send")
	progress.sendersRef(senders)
	var sendWG sync.WaitGroup
	for k, s := range senders {
		offset := time.Duration(0)
		if interval > 0 {
			offset = interval * time.Duration(k) / time.Duration(cfg.Senders)
		}
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			s.run(sendCtx, clients[k].ws, proto, cfg, run, k, perSender, start.Add(offset), interval, deadline)
		}()
	}
	sendWG.Wait()
	sendEnd := time.Now()

	var deliveredAtSendEnd int64
	for _, c := range clients {
		deliveredAtSendEnd += c.delivered.Load()
	}
	for _, s := range senders {
		res.Sent += s.sent.Load()
		if s.err != nil {
			res.SendErrors++
			if res.SendError == "" {
				res.SendError = s.err.Error()
			}
		}
	}
	res.Expected = res.Sent * int64(cfg.Clients-1)

	// Drain: wait for the deliveries still in flight.
	progress.phase("drain")
	lastTotal, lastChange := deliveredAtSendEnd, time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	for res.DrainEnd == "" {
		var total int64
		for _, c := range clients {
			total += c.delivered.Load()
		}
		now := time.Now()
		switch {
		case total >= res.Expected:
			res.DrainEnd = "complete"
		case ctx.Err() != nil:
			res.DrainEnd = "interrupted"
			res.Interrupted = true
		case now.Sub(sendEnd) > cfg.Drain:
			res.DrainEnd = "timeout"
		case total != lastTotal:
			lastTotal, lastChange = total, now
		case now.Sub(lastChange) > cfg.DrainIdle:
			res.DrainEnd = "idle"
		}
		if res.DrainEnd != "" {
			break
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	tick.Stop()
	stopProgress()
	res.MeasuredSeconds = time.Since(measure0).Seconds()
	res.LoadgenCPUSeconds = (selfCPU() - loadgenCPU0).Seconds()
	if serverCPU0 >= 0 {
		if d, err := readProcCPU(cfg.ServerPID); err == nil {
			res.ServerCPUSeconds = (d - serverCPU0).Seconds()
		}
	}

	if _, err := finish(); err != nil {
		return res, err
	}

	// Merge what the readers and senders saw.
	var latency, schedLatency, lag Histogram
	var lastRecv int64
	var firstSent, lastSent time.Time
	for _, s := range senders {
		lag.Merge(&s.lag)
		res.WriteMaxMs = max(res.WriteMaxMs, ms(s.writeMax))
		if !s.started.IsZero() && (firstSent.IsZero() || s.started.Before(firstSent)) {
			firstSent = s.started
		}
		if s.lastAt.After(lastSent) {
			lastSent = s.lastAt
		}
	}
	for _, c := range clients {
		latency.Merge(&c.latency)
		schedLatency.Merge(&c.schedLatency)
		res.Delivered += c.delivered.Load()
		res.Duplicates += c.seq.Duplicates
		res.Reordered += c.seq.Reorders
		res.Invalid += c.seq.Invalid
		res.SelfEchoes += c.selfEchoes
		res.Foreign += c.foreign
		res.ErrorFrames += c.errorFrames
		if c.serverEnded {
			res.ClosedByServer++
			if res.ReadError == "" && c.readErr != nil {
				res.ReadError = fmt.Sprintf("client %d: %v", c.id, c.readErr)
			}
		}
		lastRecv = max(lastRecv, c.lastRecv.Load())
	}
	res.Lost = res.Expected - res.Delivered
	res.DeliveriesInSend = deliveredAtSendEnd
	if !firstSent.IsZero() {
		res.SendSeconds = lastSent.Sub(firstSent).Seconds()
		if res.SendSeconds > 0 {
			res.SentMessagesSec = float64(res.Sent) / res.SendSeconds
			res.DeliveriesInSendSec = float64(deliveredAtSendEnd) / res.SendSeconds
		}
		if lastRecv > 0 {
			res.DeliverySeconds = time.Unix(0, lastRecv).Sub(firstSent).Seconds()
			if res.DeliverySeconds > 0 {
				res.DeliveriesSec = float64(res.Delivered) / res.DeliverySeconds
			}
		}
	}
	if cfg.Rate > 0 {
		res.OfferedDelivSec = cfg.Rate * float64(cfg.Senders) * float64(cfg.Clients-1)
	}
	res.LatencyP50Ms = ms(latency.Quantile(0.50))
	res.LatencyP90Ms = ms(latency.Quantile(0.90))
	res.LatencyP99Ms = ms(latency.Quantile(0.99))
	res.LatencyP999Ms = ms(latency.Quantile(0.999))
	res.LatencyMaxMs = ms(latency.Max())
	res.LatencyMeanMs = ms(latency.Mean())
	res.SchedLatencyP50Ms = ms(schedLatency.Quantile(0.50))
	res.SchedLatencyP99Ms = ms(schedLatency.Quantile(0.99))
	res.SchedLatencyMaxMs = ms(schedLatency.Max())
	res.SenderLagP99Ms = ms(lag.Quantile(0.99))
	res.SenderLagMaxMs = ms(lag.Max())
	res.Exact = res.Lost == 0 && res.Duplicates == 0 && res.Reordered == 0 && res.SelfEchoes == 0 &&
		res.Foreign == 0 && res.Invalid == 0 && res.ErrorFrames == 0 && res.SendErrors == 0 &&
		res.ClosedByServer == 0 && !res.Interrupted
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func randomRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *sender) run(ctx context.Context, conn *wsConn, proto protocol, cfg Config, run string,
	k int, count int64, first time.Time, interval time.Duration, deadline time.Time) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := range count {
		sched := first.Add(time.Duration(i) * interval)
		if interval == 0 {
			sched = time.Now()
			if cfg.Messages == 0 && sched.After(deadline) {
				return
			}
		}
		if wait := time.Until(sched); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		now := time.Now()
		if i == 0 {
			s.started = sched
		}
		s.lag.Record(now.Sub(sched))
		text := payload{Run: run, Sender: k, Seq: i, ScheduledAt: sched, SentAt: now}.encode(cfg.Size)
		w0 := time.Now()
		err := conn.writeFrame(opText, proto.Encode(text), cfg.WriteTimeout)
		s.writeMax = max(s.writeMax, time.Since(w0))
		if err != nil {
			if ctx.Err() == nil {
				s.err = fmt.Errorf("sender %d message %d: %w", k, i, err)
			}
			return
		}
		s.sent.Add(1)
		s.lastAt = time.Now()
	}
}

// closeAll starts the close handshake on every connection, waits (at most
// timeout) for the server to end them, then stops the pollers and releases
// the sockets. It returns how many connections got the server's close frame.
func closeAll(clients []*client, pollers []*poller, timeout time.Duration) int {
	payload := binary.BigEndian.AppendUint16(nil, 1000) // normal closure
	for _, c := range clients {
		if c.ws != nil {
			_ = c.ws.writeFrame(opClose, payload, time.Second)
		}
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		open := 0
		for _, p := range pollers {
			open += p.count()
		}
		if open == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range pollers {
		p.shutdown()
	}
	clean := 0
	for _, c := range clients {
		if c.ws != nil {
			c.ws.close()
			if c.gotClose {
				clean++
			}
		}
	}
	return clean
}
