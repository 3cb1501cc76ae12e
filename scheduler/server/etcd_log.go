package server

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/tinykv-lab/tinykv/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// etcdLogCore sends the embedded etcd's log lines (zap) to the repository's
// log package as "[etcd] message key=value ...", at the level etcd gave
// them. Once the server is closing, the errors of listeners being closed
// are dropped.
type etcdLogCore struct {
	level   zapcore.Level
	fields  []zapcore.Field
	closing *atomic.Bool
}

func newEtcdLogger(level zapcore.Level, closing *atomic.Bool) *zap.Logger {
	return zap.New(&etcdLogCore{level: level, closing: closing})
}

func (c *etcdLogCore) Enabled(l zapcore.Level) bool { return l >= c.level }

func (c *etcdLogCore) With(fields []zapcore.Field) zapcore.Core {
	return &etcdLogCore{level: c.level, fields: append(append([]zapcore.Field{}, c.fields...), fields...), closing: c.closing}
}

func (c *etcdLogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *etcdLogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("[etcd] ")
	b.WriteString(e.Message)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", strings.ReplaceAll(k, " ", "-"), enc.Fields[k])
	}
	line := b.String()
	if c.closing.Load() && e.Level >= zapcore.ErrorLevel && strings.Contains(e.Message, "serving from embedded etcd failed") {
		return nil
	}
	switch {
	case e.Level >= zapcore.ErrorLevel:
		log.Errorf("%s", line)
	case e.Level == zapcore.WarnLevel:
		log.Warnf("%s", line)
	case e.Level == zapcore.InfoLevel:
		log.Infof("%s", line)
	default:
		log.Debugf("%s", line)
	}
	return nil
}

func (c *etcdLogCore) Sync() error { return nil }
