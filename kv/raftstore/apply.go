package raftstore

import (
	"time"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/metrics"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// applyContext is all that applying committed entries needs of its peer:
// the engines, the peer's region and apply state, and the proposals to
// answer. The applier changes applyState in place and keeps the region
// current in region (a membership change or a split replaces it); what
// else an admin command requires of the peer and the store it returns as
// exec results, which the peer carries out once the entries are on disk.
type applyContext struct {
	// tag names the peer in logs.
	tag string
	// peerID is the applying peer's id: applying its own removal ends the batch.
	peerID uint64
	// term is the peer's current term, recorded in responses.
	term    uint64
	engines *engine_util.Engines
	// region is the region as of the last applied entry.
	region *metapb.Region
	// applyState is the peer's apply state (PeerStorage.applyState).
	applyState *raft_serverpb.RaftApplyState
	// proposals are the peer's commands waiting for their entries.
	proposals *proposalQueue
	// sizeDiffHint adds up the bytes the applied writes put.
	sizeDiffHint uint64
}

// newApplyContext is the context for applying entries of d's peer.
func newApplyContext(d *peerMsgHandler) *applyContext {
	return &applyContext{
		tag:        d.Tag,
		peerID:     d.PeerId(),
		term:       d.Term(),
		engines:    d.ctx.engine,
		region:     d.Region(),
		applyState: d.peerStorage.applyState,
		proposals:  &d.proposals,
	}
}

// applier applies one Ready's committed entries to kvdb. Writes of
// consecutive entries share one write batch, which also carries the new
// apply state; the batch is flushed before anything reads (Get, Snap), and
// callbacks of writes are answered only after their batch is written (in
// kvdb, and durable in the raft log that can replay it).
type applier struct {
	ctx     *applyContext
	kvWB    *engine_util.WriteBatch
	pending []pendingResponse
	// results are the side effects the peer must carry out, in entry order.
	results []execResult
	// stopped is set once the peer applied its own removal: nothing after
	// that entry concerns it.
	stopped bool
}

// pendingResponse is an answer to give once the write batch is flushed.
type pendingResponse struct {
	proposal *proposal
	resp     *raft_cmdpb.RaftCmdResponse
}

// The batch defers its sync: the entries it applies stay in the raft log
// until a sync made them durable in kvdb (the raft-log GC syncs kvdb before
// it deletes), so a crash loses nothing a replay of the log cannot redo.
// Admin commands sync their batch (see applyAdmin).
func newApplier(ctx *applyContext) *applier {
	kvWB := new(engine_util.WriteBatch)
	kvWB.DeferSync()
	return &applier{ctx: ctx, kvWB: kvWB}
}

// applyEntries applies entries in order, persists the result and returns
// what the peer must do about the admin commands among them.
func (a *applier) applyEntries(entries []eraftpb.Entry) []execResult {
	start := time.Now()
	for i := range entries {
		a.applyEntry(&entries[i])
		if a.stopped {
			break
		}
	}
	a.flush()
	metrics.Applied(len(entries), time.Since(start))
	return a.results
}

// applyEntry applies one entry and records that it is applied.
func (a *applier) applyEntry(entry *eraftpb.Entry) {
	// Your Code Here (2B).
	//lab:begin 2B
	applyState := a.ctx.applyState
	if entry.Index <= applyState.AppliedIndex {
		return
	}
	applyState.AppliedIndex = entry.Index
	if entry.EntryType == eraftpb.EntryType_EntryConfChange {
		a.applyConfChange(entry)
		return
	}
	if len(entry.Data) == 0 {
		// The no-op entry of a new leader.
		return
	}
	req := new(raft_cmdpb.RaftCmdRequest)
	if err := req.Unmarshal(entry.Data); err != nil {
		log.Panicf("[apply] %s entry %d is not a command: %v", a.ctx.tag, entry.Index, err)
	}
	p := a.takeProposal(entry)
	if err := util.CheckRegionEpoch(req, a.ctx.region, true); err != nil {
		a.respond(p, ErrResp(err))
		return
	}
	if req.AdminRequest != nil {
		a.respond(p, a.applyAdmin(req))
		return
	}
	a.respond(p, a.applyRequests(req))
	//lab:end
}

// applyRequests applies the requests of one normal command.
func (a *applier) applyRequests(req *raft_cmdpb.RaftCmdRequest) *raft_cmdpb.RaftCmdResponse {
	// Your Code Here (2B).
	//lab:begin 2B
	if err := checkRequestKeys(req, a.ctx.region); err != nil {
		return ErrResp(err)
	}
	resp := newCmdResp()
	for _, r := range req.Requests {
		switch r.CmdType {
		case raft_cmdpb.CmdType_Put:
			a.kvWB.SetCF(r.Put.Cf, r.Put.Key, r.Put.Value)
			resp.Responses = append(resp.Responses, &raft_cmdpb.Response{CmdType: r.CmdType, Put: &raft_cmdpb.PutResponse{}})
			a.ctx.sizeDiffHint += uint64(len(r.Put.Key) + len(r.Put.Value))
		case raft_cmdpb.CmdType_Delete:
			a.kvWB.DeleteCF(r.Delete.Cf, r.Delete.Key)
			resp.Responses = append(resp.Responses, &raft_cmdpb.Response{CmdType: r.CmdType, Delete: &raft_cmdpb.DeleteResponse{}})
		case raft_cmdpb.CmdType_Get:
			a.flush()
			value, err := engine_util.GetCF(a.ctx.engines.Kv, r.Get.Cf, r.Get.Key)
			if err != nil && err != badger.ErrKeyNotFound {
				return ErrResp(err)
			}
			resp.Responses = append(resp.Responses, &raft_cmdpb.Response{CmdType: r.CmdType, Get: &raft_cmdpb.GetResponse{Value: value}})
		case raft_cmdpb.CmdType_Snap:
			a.flush()
			resp.Responses = append(resp.Responses, &raft_cmdpb.Response{CmdType: r.CmdType,
				Snap: &raft_cmdpb.SnapResponse{Region: util.CopyRegion(a.ctx.region)}})
		}
	}
	return resp
	//lab:else
	//	return nil
	//lab:end
}

// respond queues the answer to the proposal of the entry just applied;
// flush gives it once the entry's writes are in kvdb. A Snap read takes its
// kvdb view now, after the flush that came before it.
func (a *applier) respond(p *proposal, resp *raft_cmdpb.RaftCmdResponse) {
	// Your Code Here (2B).
	//lab:begin 2B
	if p == nil {
		return
	}
	BindRespTerm(resp, a.ctx.term)
	if isSnapResponse(resp) {
		p.cb.Txn = a.ctx.engines.Kv.NewTransaction(false)
	}
	a.pending = append(a.pending, pendingResponse{proposal: p, resp: resp})
	//lab:end
}

func isSnapResponse(resp *raft_cmdpb.RaftCmdResponse) bool {
	for _, r := range resp.Responses {
		if r.CmdType == raft_cmdpb.CmdType_Snap {
			return true
		}
	}
	return false
}

// flush writes the batch with the apply state, then answers the callbacks
// of everything it contains.
func (a *applier) flush() {
	// Your Code Here (2B).
	//lab:begin 2B
	ctx := a.ctx
	if err := a.kvWB.SetMeta(meta.ApplyStateKey(ctx.region.Id), ctx.applyState); err != nil {
		log.Panicf("[apply] %s encoding apply state failed: %v", ctx.tag, err)
	}
	if err := a.kvWB.WriteToDB(ctx.engines.Kv); err != nil {
		log.Panicf("[apply] %s writing applied entries failed: %v", ctx.tag, err)
	}
	a.kvWB.Reset()
	for _, pr := range a.pending {
		pr.proposal.cb.Done(pr.resp)
	}
	a.pending = a.pending[:0]
	//lab:end
}

// proposalQueue holds a peer's proposals in index order.
type proposalQueue []*proposal

// answerStale answers ErrStaleCommand to the proposals a snapshot at
// (index, term) leaves without an entry to apply: those at or below its
// index, and those of an older term (no entry of an older term follows
// the snapshot). Without this their clients would wait until some later
// entry is applied, which may never come.
func (q *proposalQueue) answerStale(index, term uint64) {
	kept := (*q)[:0]
	for _, p := range *q {
		if p.index <= index || p.term < term {
			notifyStaleReq(term, p.cb)
			continue
		}
		kept = append(kept, p)
	}
	*q = kept
}

// takeProposal removes and returns the proposal of entry, if this peer
// proposed it in this term. Proposals that can no longer be applied are
// answered with ErrStaleCommand: those before the entry (another leader's
// entries took their place), and those of an older term than the entry,
// wherever they are (by log matching, no entry of an older term can follow
// this one). Proposals are in index order, and so in term order.
func (a *applier) takeProposal(entry *eraftpb.Entry) *proposal {
	//lab:begin 2B
	q := a.ctx.proposals
	for len(*q) > 0 {
		p := (*q)[0]
		if p.index > entry.Index && p.term >= entry.Term {
			return nil
		}
		*q = (*q)[1:]
		if p.index == entry.Index && p.term == entry.Term {
			return p
		}
		notifyStaleReq(entry.Term, p.cb)
	}
	//lab:end
	return nil
}
