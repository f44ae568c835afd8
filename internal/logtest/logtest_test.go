package logtest_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/opencis/cisauth/internal/logtest"
)

func TestBufferKeepsEveryRecord(t *testing.T) {
	var b logtest.Buffer
	log := b.Logger()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { log.Debug("record", "n", i) })
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 20 || !strings.Contains(lines[0], `"level":"DEBUG"`) || !strings.HasPrefix(lines[0], "{") {
		t.Errorf("%d records, first %q", len(lines), lines[0])
	}
}
