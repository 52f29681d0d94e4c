// Command latencymodel computes the end-to-end latency model of
// BENCHMARKS.md ("End-to-end latency, modelled"): p50, p95 and p99 of an
// echo, a chat message's ack, a message to rooms of 50, 500 and 5,000, and
// a catch-up after a reconnect, by Monte Carlo over the components each is
// made of.
//
// Every component is a log-normal distribution given by its p50 and p99;
// where each number comes from (measured here, published, or assumed) is in
// the components table, which -sources prints. The broadcast's part is
// computed from the per-post CPU measured by bench/fanoutsim (-cpu-per-post)
// and the functions' CPU shares.
//
//	go run ./bench/latencymodel
//	go run ./bench/latencymodel -sources
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// component is one step's latency: log-normal, from its p50 and p99 (ms).
type component struct {
	name     string
	p50, p99 float64
	source   string
}

// z99 is the standard normal's 99th percentile.
const z99 = 2.3263

func (c component) draw(r *rand.Rand) float64 {
	if c.p50 <= 0 {
		return 0
	}
	sigma := math.Log(c.p99/c.p50) / z99
	return c.p50 * math.Exp(sigma*r.NormFloat64())
}

// model is the set of components and the measured CPU figures.
type model struct {
	net, apigw, invoke, coldInit, dynamo, post, sqsSend, sqsHop component
	coldRate                                                    float64 // share of invocations that start cold
	cpuPerPost                                                  float64 // ms of CPU per post at 1 vCPU (measured)
	messageVCPU, connectVCPU, fanoutVCPU                        float64
	workers, fanoutConcurrency, batch, inlineLimit              int
	perItem                                                     float64 // ms per item a Query returns
}

func defaults() model {
	return model{
		net: component{"client ↔ region, one way (home connection)", 12, 40,
			"assumption: a home connection to a nearby region (24 ms round trip at p50); no source"},
		apigw: component{"API Gateway WebSocket: frame in → integration, or @connections → frame out", 5, 25,
			"assumption: AWS publishes no WebSocket latency; third-party: 10–30 ms overhead for REST APIs (https://www.smplogs.com/patterns/apigateway/high-latency)"},
		invoke: component{"Lambda invoke, warm", 2, 10,
			"assumption, bounded by published runs: warm responses through API Gateway from 4.9 ms (X-Ray, https://github.com/codetalkio/patterns-serverless-rust-minimal benchmark/response-times.md)"},
		coldInit: component{"Lambda cold start, Go on provided.al2023 arm64 (init)", 40, 200,
			"p50: issue 23's 38–41 ms, ~40 ms Init Duration for Go in public benchmarks (https://huncoding.github.io/lambda-golang-coldstart-en); p99: Go 150–250 ms in production (https://edjgeek.com/blog/lambda-cold-starts-dead)"},
		coldRate: 0.01,
		dynamo: component{"DynamoDB call (GetItem, UpdateItem, PutItem, Query page)", 4, 12,
			"p50: AWS, 'typically in the single digit milliseconds' (https://docs.aws.amazon.com/whitepapers/latest/comparing-dynamodb-and-hbase-for-nosql/amazon-dynamodb-architecture-overview.html); p99: assumption"},
		post: component{"PostToConnection from Lambda, in-region", 8, 25,
			"assumption, the same as bench/fanoutsim's stand-in (log-normal, median 8 ms, σ 0.5)"},
		sqsSend: component{"SQS SendMessageBatch", 16, 105,
			"p50: 16 ms to send a 1 KB message, Amazon's own results (2012) in https://paperzz.com/doc/8847683/cloud-performance-benchmark-series; p99: issue 23's 105 ms, not checked"},
		sqsHop: component{"SQS → fan-out invocation (the event source mapping's poll)", 16, 105,
			"issue 23's p50 16 / p99 105 ms per hop; not checked against an AWS source"},
		cpuPerPost:        0.32,
		messageVCPU:       512.0 / 1769, // template.yaml: MessageFunction 512 MB
		connectVCPU:       256.0 / 1769, // the Globals' 256 MB
		fanoutVCPU:        1,
		workers:           32,
		fanoutConcurrency: 3,
		batch:             250,
		inlineLimit:       500,
		perItem:           0.01,
	}
}

// scenario is one row of the table: a sample of its end-to-end latency.
type scenario struct {
	name string
	how  string
	draw func(m *model, r *rand.Rand) float64
}

// lambda is an invocation's start: warm, or now and then cold.
func (m *model) lambda(r *rand.Rand) float64 {
	t := m.invoke.draw(r)
	if r.Float64() < m.coldRate {
		t += m.coldInit.draw(r)
	}
	return t
}

// stored is the message function up to the ack: GetItem of the sender,
// the send clock's UpdateItem, the seq's UpdateItem and the message's
// conditional PutItem, one after the other (chat.Service.Send).
func (m *model) stored(r *rand.Rand) float64 {
	t := 0.0
	for range 4 {
		t += m.dynamo.draw(r)
	}
	return t
}

// query is a Query of n items, in pages of 1 MB (room items are ~70 B: one page).
func (m *model) query(r *rand.Rand, n int) float64 {
	return m.dynamo.draw(r) + float64(n)*m.perItem
}

// inline is when the k-th of a broadcast's posts (from 0) leaves a function
// of vcpu: posts go out at the slower of the CPU's rate (per-post CPU over
// the function's share) and the workers' (workers per post latency).
func (m *model) inline(k int, vcpu float64) float64 {
	return float64(k) * max(m.cpuPerPost/vcpu, m.post.p50/float64(m.workers))
}

// sharded is when the k-th post leaves on the fan-out path: the batches
// are sent to SQS (in tens), then taken fanoutConcurrency at a time, each
// after a hop through the queue and an invocation, and posted at the fan-out
// function's rate. The slot holds during the hop (no prefetch: the slow case,
// as bench/fanoutsim -hop runs it).
func (m *model) sharded(r *rand.Rand, n, k int) float64 {
	batches := (n + m.batch - 1) / m.batch
	t := 0.0
	for range (batches + 9) / 10 {
		t += m.sqsSend.draw(r)
	}
	b := k / m.batch
	round := b / m.fanoutConcurrency
	per := max(m.cpuPerPost/m.fanoutVCPU, m.post.p50/float64(m.workers))
	for range round + 1 {
		t += m.sqsHop.draw(r) + m.lambda(r)
	}
	return t + float64(round*m.batch)*per + float64(k%m.batch)*per
}

// message is a recipient's latency in a room of n: the sender's frame in,
// the message stored and acked, the room listed, the recipient's post
// (a member drawn at random), and the frame out.
func (m *model) message(r *rand.Rand, n int) float64 {
	t := m.net.draw(r) + m.apigw.draw(r) + m.lambda(r) + m.stored(r)
	t += m.post.draw(r) // the ack, before the room is listed
	t += m.query(r, n)
	k := r.IntN(n - 1)
	if n-1 > m.inlineLimit {
		t += m.sharded(r, n-1, k)
	} else {
		t += m.inline(k, m.messageVCPU)
	}
	return t + m.post.draw(r) + m.apigw.draw(r) + m.net.draw(r)
}

func scenarios() []scenario {
	return []scenario{
		{"echo: `ping` → `pong`", "net + API Gateway (MOCK integration, no Lambda) + net",
			func(m *model, r *rand.Rand) float64 {
				return m.net.draw(r) + m.apigw.draw(r) + m.apigw.draw(r) + m.net.draw(r)
			}},
		{"2021's echo, modelled (a Lambda posting the frame back)", "net + API Gateway + Lambda + post + API Gateway + net",
			func(m *model, r *rand.Rand) float64 {
				return m.net.draw(r) + m.apigw.draw(r) + m.lambda(r) + m.post.draw(r) + m.apigw.draw(r) + m.net.draw(r)
			}},
		{"2021's echo with a DynamoDB read and write, modelled", "as 2021's echo + 2 DynamoDB calls in a row",
			func(m *model, r *rand.Rand) float64 {
				return m.net.draw(r) + m.apigw.draw(r) + m.lambda(r) + m.dynamo.draw(r) + m.dynamo.draw(r) + m.post.draw(r) + m.apigw.draw(r) + m.net.draw(r)
			}},
		{"a chat message's ack to its sender", "net + API Gateway + Lambda + 4 DynamoDB calls in a row + post + API Gateway + net",
			func(m *model, r *rand.Rand) float64 {
				return m.net.draw(r) + m.apigw.draw(r) + m.lambda(r) + m.stored(r) + m.post.draw(r) + m.apigw.draw(r) + m.net.draw(r)
			}},
		{"message to a room of 50 (a recipient)", "the ack's path + Query of the room + the recipient's place in an inline broadcast + post + API Gateway + net",
			func(m *model, r *rand.Rand) float64 { return m.message(r, 50) }},
		{"message to a room of 500", "as for 50: inline (the limit is 500 recipients)",
			func(m *model, r *rand.Rand) float64 { return m.message(r, 500) }},
		{"message to a room of 5,000", "the ack's path + Query + SQS send + per round of 3 batches: SQS hop + invocation + 250 posts at 1 vCPU",
			func(m *model, r *rand.Rand) float64 { return m.message(r, 5000) }},
		{"catch-up after a reconnect (room of 50)", "TCP + TLS 1.3 + upgrade (3 round trips); the upgrade waits for $connect (Lambda at 256 MB, cool-down GetItem, Query of the room, PutItem, 49 `joined` posts); then `history`: net + API Gateway + Lambda + GetItem + Query of 50 + post + API Gateway + net",
			func(m *model, r *rand.Rand) float64 {
				t := 0.0
				for range 3 {
					t += m.net.draw(r) + m.net.draw(r)
				}
				// $connect runs during the upgrade: the handshake's answer
				// waits for it, presence notices included.
				t += m.apigw.draw(r) + m.lambda(r) + m.dynamo.draw(r) + m.query(r, 50) + m.dynamo.draw(r) + m.inline(48, m.connectVCPU) + m.post.draw(r)
				t += m.net.draw(r) + m.apigw.draw(r) + m.lambda(r) + m.dynamo.draw(r) + m.query(r, 50)
				return t + m.post.draw(r) + m.apigw.draw(r) + m.net.draw(r)
			}},
	}
}

func main() {
	samples := flag.Int("samples", 200000, "Monte Carlo samples per row")
	seed := flag.Uint64("seed", 23, "random seed")
	sources := flag.Bool("sources", false, "print the components and where each number comes from")
	m := defaults()
	flag.Float64Var(&m.cpuPerPost, "cpu-per-post", m.cpuPerPost, "ms of CPU per post at 1 vCPU (bench/fanoutsim's CPU-s per 1,000 requests)")
	flag.Float64Var(&m.coldRate, "cold", m.coldRate, "share of invocations that start cold")
	flag.Float64Var(&m.net.p50, "net-p50", m.net.p50, "client ↔ region one way, p50 ms")
	flag.Float64Var(&m.net.p99, "net-p99", m.net.p99, "client ↔ region one way, p99 ms")
	flag.Parse()

	if *sources {
		fmt.Println("| component | p50 ms | p99 ms | source |")
		fmt.Println("|---|---:|---:|---|")
		for _, c := range []component{m.net, m.apigw, m.invoke, m.coldInit, m.dynamo, m.post, m.sqsSend, m.sqsHop} {
			fmt.Printf("| %s | %g | %g | %s |\n", c.name, c.p50, c.p99, c.source)
		}
		fmt.Printf("\ncold starts: %.1f %% of invocations; per-post CPU %.2f ms at 1 vCPU; message function %.2f vCPU, $connect %.2f vCPU, fan-out %.2f vCPU × %d\n",
			m.coldRate*100, m.cpuPerPost, m.messageVCPU, m.connectVCPU, m.fanoutVCPU, m.fanoutConcurrency)
		return
	}
	r := rand.New(rand.NewPCG(*seed, *seed))
	fmt.Println("| path | p50 ms | p95 ms | p99 ms | made of |")
	fmt.Println("|---|---:|---:|---:|---|")
	for _, s := range scenarios() {
		xs := make([]float64, *samples)
		for i := range xs {
			xs[i] = s.draw(&m, r)
		}
		slices.Sort(xs)
		q := func(p float64) float64 { return xs[int(p*float64(len(xs)-1))] }
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %s |\n", s.name, q(0.50), q(0.95), q(0.99), s.how)
	}
}
