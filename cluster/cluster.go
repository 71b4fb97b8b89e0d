// Package cluster spreads conversations across agora nodes: membership by
// memberlist gossip, placement by rendezvous hashing over the serving
// members, and the node metadata they gossip. Fencing (the ownership epoch)
// lives in the store; forwarding in the HTTP layer.
//
// Goroutines: memberlist calls the delegates on its own goroutines; they
// only record and signal. The cluster's loop goroutine rebuilds the view
// and calls OnChange. Reads of the view (Owner, Members) take a read lock.
package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures a node's membership.
type Config struct {
	// NodeName is this node's stable name, unique in the cluster. It is
	// what placement hashes, so a restarted node gets its conversations
	// back.
	NodeName string
	// GossipAddr is the host:port memberlist binds (UDP and TCP), and the
	// address other nodes reach this one at.
	GossipAddr string
	// HTTPAddr is where this node serves HTTP; it travels in the metadata
	// so peers can forward to it.
	HTTPAddr string
	// Join lists seeds (host:port). Joining is retried in the background
	// until one answers, so nodes may start in any order.
	Join []string
	// Timings shrinks memberlist's intervals; tests use it to converge in
	// milliseconds. nil keeps memberlist's local-network defaults.
	Timings func(*memberlist.Config)
	// OnChange is called on the cluster's goroutine after the view of the
	// serving members changed.
	OnChange func()
	// Logger receives membership events. Default slog.Default().
	Logger *slog.Logger
}

// Member is one node as this node sees it.
type Member struct {
	Name       string `json:"name"`
	GossipAddr string `json:"gossip_addr"`
	HTTPAddr   string `json:"http_addr"`
	State      State  `json:"state"`
}

// Cluster is this node's membership in the cluster.
type Cluster struct {
	cfg     Config
	log     *slog.Logger
	ml      *memberlist.Memberlist
	started int64

	mu      sync.RWMutex
	state   State
	members []Member // deduplicated by node name, sorted by name
	serving []string // names of the serving members, for placement
	byName  map[string]Member

	nodesMu sync.Mutex
	nodes   map[string]gossipNode // by memberlist name, copied from events

	changed chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// New starts this node's membership in state joining; it joins the seeds
// in the background and turns serving once it has (at once when there are
// no seeds).
func New(cfg Config) (*Cluster, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("cluster: a node name is required")
	}
	host, portText, err := net.SplitHostPort(cfg.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip address %q: %w", cfg.GossipAddr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip port %q: %w", portText, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Cluster{
		cfg:     cfg,
		log:     cfg.Logger,
		started: time.Now().UnixNano(),
		state:   StateJoining,
		byName:  map[string]Member{},
		nodes:   map[string]gossipNode{},
		changed: make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	mc := memberlist.DefaultLocalConfig()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	mc.Name = cfg.NodeName + "/" + hex.EncodeToString(suffix)
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = host, port
	mc.Delegate = delegate{c}
	mc.Events = eventDelegate{c}
	mc.Logger = log.New(io.Discard, "", 0)
	if cfg.Timings != nil {
		cfg.Timings(mc)
	}
	if c.ml, err = memberlist.Create(mc); err != nil {
		return nil, fmt.Errorf("cluster: start gossip on %s: %w", cfg.GossipAddr, err)
	}
	go c.loop()
	go c.join()
	return c, nil
}

// join contacts the seeds until one answers, then turns serving.
func (c *Cluster) join() {
	backoff := 100 * time.Millisecond
	for len(c.cfg.Join) > 0 {
		n, err := c.ml.Join(c.cfg.Join)
		if n > 0 {
			break
		}
		c.log.Warn("cannot join the cluster yet; retrying", "seeds", c.cfg.Join, "err", err, "retry_in", backoff)
		select {
		case <-c.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	if err := c.SetState(StateServing); err != nil {
		c.log.Error("cannot announce the serving state", "err", err)
	}
}

func (c *Cluster) localMeta() nodeMeta {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return nodeMeta{Node: c.cfg.NodeName, HTTPAddr: c.cfg.HTTPAddr, State: c.state, Started: c.started}
}

// SetState changes this node's state and gossips it. memberlist reports
// a timeout when the update has not gone out within a few seconds (a busy
// machine); it is queued all the same and reaches the peers with the next
// gossip or push-pull, so that is not an error.
func (c *Cluster) SetState(s State) error {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
	err := c.ml.UpdateNode(5 * time.Second)
	c.signal()
	if err != nil && strings.Contains(err.Error(), "timeout") {
		c.log.Warn("the state change is still being gossiped", "state", s, "err", err)
		return nil
	}
	return err
}

// gossipNode is a copy of what memberlist knows of a live node.
type gossipNode struct {
	addr string
	meta []byte
}

func (c *Cluster) handleNodeEvent(kind string, n *memberlist.Node) {
	c.nodesMu.Lock()
	if kind == "left" || kind == "failed" {
		delete(c.nodes, n.Name)
	} else {
		c.nodes[n.Name] = gossipNode{addr: n.Address(), meta: append([]byte(nil), n.Meta...)}
	}
	c.nodesMu.Unlock()
	c.log.Debug("membership event", "event", kind, "member", n.Name)
	c.signal()
}

func (c *Cluster) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// loop rebuilds the view after membership events, off memberlist's
// goroutines.
func (c *Cluster) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.changed:
		}
		if c.rebuild() && c.cfg.OnChange != nil {
			c.cfg.OnChange()
		}
	}
}

// rebuild recomputes the members from memberlist and reports whether the
// serving set changed.
func (c *Cluster) rebuild() bool {
	type incarnation struct {
		m       Member
		started int64
	}
	newest := map[string]incarnation{}
	c.nodesMu.Lock()
	nodes := make([]gossipNode, 0, len(c.nodes))
	for _, n := range c.nodes {
		nodes = append(nodes, n)
	}
	c.nodesMu.Unlock()
	for _, n := range nodes {
		meta, err := decodeMeta(n.meta)
		if err != nil || meta.Node == "" {
			continue
		}
		m := Member{Name: meta.Node, GossipAddr: n.addr, HTTPAddr: meta.HTTPAddr, State: meta.State}
		if cur, ok := newest[meta.Node]; !ok || meta.Started > cur.started {
			newest[meta.Node] = incarnation{m, meta.Started}
		}
	}
	members := make([]Member, 0, len(newest))
	for _, inc := range newest {
		members = append(members, inc.m)
	}
	slices.SortFunc(members, func(a, b Member) int {
		if a.Name < b.Name {
			return -1
		} else if a.Name > b.Name {
			return 1
		}
		return 0
	})
	var serving []string
	byName := make(map[string]Member, len(members))
	for _, m := range members {
		byName[m.Name] = m
		if m.State == StateServing {
			serving = append(serving, m.Name)
		}
	}
	c.mu.Lock()
	changed := !slices.Equal(serving, c.serving) || len(members) != len(c.members)
	c.members, c.serving, c.byName = members, serving, byName
	c.mu.Unlock()
	if changed {
		c.log.Info("cluster membership changed", "serving", serving, "members", len(members))
	}
	return changed
}

// Owner returns the serving member that owns a conversation, and false
// when no member serves.
func (c *Cluster) Owner(cid string) (Member, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i := owner(c.serving, cid)
	if i < 0 {
		return Member{}, false
	}
	return c.byName[c.serving[i]], true
}

// Owns reports whether this node owns a conversation now.
func (c *Cluster) Owns(cid string) bool {
	m, ok := c.Owner(cid)
	return ok && m.Name == c.cfg.NodeName
}

// Self returns this node's name.
func (c *Cluster) Self() string { return c.cfg.NodeName }

// State returns this node's state.
func (c *Cluster) State() State {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state
}

// Members returns the members this node knows, by name.
func (c *Cluster) Members() []Member {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.members)
}

// Leave says goodbye to the cluster (peers see a member that left, not one
// that failed) and stops gossiping.
func (c *Cluster) Leave(timeout time.Duration) error {
	err := c.ml.Leave(timeout)
	close(c.stop)
	<-c.done
	if serr := c.ml.Shutdown(); err == nil {
		err = serr
	}
	return err
}

// Shutdown stops gossiping without a goodbye, as a crash would: peers
// declare this node failed after their probes time out.
func (c *Cluster) Shutdown() error {
	close(c.stop)
	<-c.done
	return c.ml.Shutdown()
}

// FastTimings shrinks memberlist's intervals (gossip 5 ms, probe 50 ms,
// suspicion after about 150 ms) so that a cluster on one machine
// converges, detects a dead node and hands its conversations over in well
// under a second: for tests (`agora serve --gossip-test-timings`).
// Production keeps memberlist's local-network defaults (probe 1 s, a dead
// node detected after a few seconds).
func FastTimings(c *memberlist.Config) {
	c.GossipInterval = 5 * time.Millisecond
	c.ProbeInterval = 50 * time.Millisecond
	c.ProbeTimeout = 25 * time.Millisecond
	c.SuspicionMult = 2
	c.PushPullInterval = 200 * time.Millisecond
	c.TCPTimeout = 250 * time.Millisecond
	c.GossipToTheDeadTime = time.Second
}
