package main

import (
	"github.com/agora-dev/agora/cluster"
)

// startCluster joins the cluster when --gossip-addr is set. It needs the
// HTTP address already bound, which travels in the node's metadata.
func (m *Main) startCluster(httpAddr string) error {
	c := &m.Config
	if c.GossipAddr == "" {
		return nil // ServeConfig.check refused --join without it
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
		cfg.Timings = cluster.FastTimings
	}
	var err error
	m.Cluster, err = cluster.New(cfg)
	return err
}
