package test_raftstore

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// The drivers record every client operation (invocation and return times)
// and check the history against a sequential key-value store with
// porcupine: the cluster is linearizable if the operations can be put in
// one order, each taking effect at some instant between its invocation and
// its return, that a single-copy store would answer the same way.

type kvOpKind int

const (
	kvGet kvOpKind = iota
	kvPut
	kvAppend
)

// kvInput is an operation on one key. An append adds Value to the key's
// list (the cluster stores element i of list L under its own key, L/i, so
// a retried append is idempotent); a get of a list reads the whole list.
type kvInput struct {
	Op    kvOpKind
	Key   string
	Value string
}

// kvOutput is what a get returned; puts and appends return nothing.
type kvOutput struct {
	Value string
}

var kvModel = porcupine.Model{
	Partition: partitionByKey,
	Init:      func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		in := input.(kvInput)
		switch in.Op {
		case kvGet:
			return output.(kvOutput).Value == state.(string), state
		case kvPut:
			return true, in.Value
		default:
			return true, state.(string) + in.Value
		}
	},
	DescribeOperation: func(input, output interface{}) string {
		in := input.(kvInput)
		switch in.Op {
		case kvGet:
			return fmt.Sprintf("get(%q) -> %q", in.Key, output.(kvOutput).Value)
		case kvPut:
			return fmt.Sprintf("put(%q, %q)", in.Key, in.Value)
		default:
			return fmt.Sprintf("append(%q, %q)", in.Key, in.Value)
		}
	},
}

func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := make(map[string][]porcupine.Operation)
	var keys []string
	for _, op := range history {
		key := op.Input.(kvInput).Key
		if _, seen := byKey[key]; !seen {
			keys = append(keys, key)
		}
		byKey[key] = append(byKey[key], op)
	}
	sort.Strings(keys)
	parts := make([][]porcupine.Operation, 0, len(keys))
	for _, key := range keys {
		parts = append(parts, byKey[key])
	}
	return parts
}

// opHistory collects the operations of all clients.
type opHistory struct {
	mu    sync.Mutex
	epoch time.Time
	ops   []porcupine.Operation
	// open are operations that may still take effect, with no known
	// return: tries of a put that got no answer in time.
	open []porcupine.Operation
}

func newOpHistory() *opHistory {
	return &opHistory{epoch: time.Now()}
}

// now is the time stamp of the present.
func (h *opHistory) now() int64 {
	return time.Since(h.epoch).Nanoseconds()
}

// add records an operation that returned.
func (h *opHistory) add(client int, in kvInput, out kvOutput, call, ret int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
}

// addOpen records n tries of in, invoked at call or later, that may take
// effect at any time from then on.
func (h *opHistory) addOpen(client int, in kvInput, call int64, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := 0; i < n; i++ {
		h.open = append(h.open, porcupine.Operation{ClientId: client, Input: in, Call: call})
	}
}

func (h *opHistory) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops) + len(h.open)
}

// operations returns the history, open operations returning after
// everything else.
func (h *opHistory) operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	end := int64(0)
	for _, op := range h.ops {
		if op.Return > end {
			end = op.Return
		}
	}
	ops := append([]porcupine.Operation(nil), h.ops...)
	for _, op := range h.open {
		op.Return = end + 1
		op.Output = kvOutput{}
		ops = append(ops, op)
	}
	return ops
}

// linearizabilityTimeout bounds porcupine's search; a search that runs out
// of time is reported and not counted as a failure.
const linearizabilityTimeout = 30 * time.Second

// linearizabilityVerdict is the outcome of checking a history.
type linearizabilityVerdict struct {
	result porcupine.CheckResult
	// visualization is the file drawing an illegal history ("" otherwise).
	visualization string
	err           error
}

// checkLinearizable checks the history; an illegal one is drawn into an
// HTML file named after label, in the directory TINYKV_VIS_DIR or the
// system's temporary directory.
func checkLinearizable(ops []porcupine.Operation, label string) linearizabilityVerdict {
	result, info := porcupine.CheckOperationsVerbose(kvModel, ops, linearizabilityTimeout)
	verdict := linearizabilityVerdict{result: result}
	if result != porcupine.Illegal {
		return verdict
	}
	dir := os.Getenv("TINYKV_VIS_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	file, err := os.CreateTemp(dir, fmt.Sprintf("tinykv-linearizability-%s-*.html", sanitizeFileName(label)))
	if err != nil {
		verdict.err = err
		return verdict
	}
	defer file.Close()
	if err := porcupine.Visualize(kvModel, info, file); err != nil {
		verdict.err = err
	}
	verdict.visualization = file.Name()
	return verdict
}

func sanitizeFileName(name string) string {
	out := []rune(name)
	for i, r := range out {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			out[i] = '_'
		}
	}
	return string(out)
}
