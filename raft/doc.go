// Package raft is a Raft consensus library (placeholder doc, replaced below).
package raft
