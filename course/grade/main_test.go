package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBadCommandLinesExitTwoWithAMessage(t *testing.T) {
	cases := map[string][]string{
		"no stage":        {},
		"unknown stage":   {"-stage", "2D"},
		"zero runs":       {"-stage", "1", "-runs", "0"},
		"zero workers":    {"-stage", "1", "-parallel", "0"},
		"extra argument":  {"-stage", "1", "TestRawGet1"},
		"bad regexp":      {"-stage", "1", "-run", "("},
		"missing weights": {"-stage", "1", "-weights", "no/such/weights.json"},
		"unknown flag":    {"-stages", "1"},
	}
	for name, args := range cases {
		var out, errs bytes.Buffer
		if code := run(args, &out, &errs); code != 2 || !strings.Contains(errs.String(), "grade") && !strings.Contains(errs.String(), "flag") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and a message", name, code, errs.String())
		}
	}
}
