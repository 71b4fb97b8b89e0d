package cluster

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// State is where a node is in its life in the cluster.
type State string

// States. Only serving members own conversations: a joining node takes
// none until it has joined, and a draining node hands its own off.
const (
	StateJoining  State = "joining"
	StateServing  State = "serving"
	StateDraining State = "draining"
)

// nodeMeta is what each node gossips about itself, msgpack-encoded in
// memberlist's node metadata (limit 512 bytes; this is well under 200).
type nodeMeta struct {
	// Node is the stable node name; the memberlist name adds a suffix per
	// process incarnation so that a restarted node can rejoin at once.
	Node     string `msgpack:"n"`
	HTTPAddr string `msgpack:"h"`
	State    State  `msgpack:"s"`
	// Started orders two incarnations of one node: the newer one wins.
	Started int64 `msgpack:"t"`
}

func (m nodeMeta) encode() []byte {
	b, err := msgpack.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("cluster: encode node metadata: %v", err)) // plain strings and ints never fail
	}
	return b
}

func decodeMeta(b []byte) (nodeMeta, error) {
	var m nodeMeta
	if err := msgpack.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("cluster: decode node metadata: %w", err)
	}
	return m, nil
}
