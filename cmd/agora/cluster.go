package main

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/agora-dev/agora/cluster"
)

// testGossipTimings shrinks memberlist's intervals (gossip 5 ms, probe
// 50 ms, suspicion after about 150 ms) so that a test cluster converges,
// detects a dead node and takes over its conversations in well under a
// second. Production keeps memberlist's local-network defaults (probe 1 s,
// a dead node detected after a few seconds).
func testGossipTimings(c *memberlist.Config) {
	c.GossipInterval = 5 * time.Millisecond
	c.ProbeInterval = 50 * time.Millisecond
	c.ProbeTimeout = 25 * time.Millisecond
	c.SuspicionMult = 2
	c.PushPullInterval = 200 * time.Millisecond
	c.TCPTimeout = 250 * time.Millisecond
	c.GossipToTheDeadTime = time.Second
}

// startCluster joins the cluster when --gossip-addr is set. It needs the
// HTTP address already bound, which travels in the node's metadata.
func (m *Main) startCluster(httpAddr string) error {
	c := &m.Config
	if c.GossipAddr == "" {
		if c.Join != "" {
			return fmt.Errorf("%w: --join needs --gossip-addr", errUsage)
		}
		return nil
	}
	if c.Postgres == "" {
		return fmt.Errorf("%w: a cluster (--gossip-addr) requires --postgres: its nodes share one store", errUsage)
	}
	seeds := splitList(c.Join)
	cfg := cluster.Config{
		NodeName:   c.NodeName,
		GossipAddr: c.GossipAddr,
		HTTPAddr:   httpAddr,
		Join:       seeds,
		Logger:     m.Logger,
		OnChange: func() {
			if m.Manager != nil {
				m.Manager.Rebalance()
			}
		},
	}
	if c.GossipTestTimings {
		cfg.Timings = testGossipTimings
	}
	var err error
	m.Cluster, err = cluster.New(cfg)
	return err
}
