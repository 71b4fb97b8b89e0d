package cluster

import "github.com/hashicorp/memberlist"

// eventDelegate records membership events and signals the cluster's own
// goroutine: memberlist calls it on its gossip goroutines, which must not
// block or do real work. The *Node is memberlist's own and is written by
// later gossip, so the delegate copies what it needs while memberlist
// holds the node's lock (during the call) and never keeps the pointer.
type eventDelegate struct{ c *Cluster }

// NotifyJoin implements memberlist.EventDelegate.
func (e eventDelegate) NotifyJoin(n *memberlist.Node) { e.c.handleNodeEvent("join", n) }

// NotifyLeave implements memberlist.EventDelegate. memberlist calls it
// both for a member that left (said goodbye) and one that failed (declared
// dead); the node's state tells which.
func (e eventDelegate) NotifyLeave(n *memberlist.Node) {
	kind := "left"
	if n.State == memberlist.StateDead {
		kind = "failed"
	}
	e.c.handleNodeEvent(kind, n)
}

// NotifyUpdate implements memberlist.EventDelegate.
func (e eventDelegate) NotifyUpdate(n *memberlist.Node) { e.c.handleNodeEvent("update", n) }
