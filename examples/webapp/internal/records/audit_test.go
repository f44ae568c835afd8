package records

import (
	"strconv"
	"testing"
)

func TestAuditKeepsTheNewest(t *testing.T) {
	var a audit
	if got := a.recent(); len(got) != 0 {
		t.Fatalf("empty audit: %v", got)
	}
	for i := range auditSize + 5 {
		a.add(access{NHSNumber: strconv.Itoa(i)})
	}
	got := a.recent()
	if len(got) != auditSize || got[0].NHSNumber != strconv.Itoa(auditSize+4) || got[auditSize-1].NHSNumber != "5" {
		t.Errorf("after %d accesses: %d kept, newest %s, oldest %s", auditSize+5, len(got), got[0].NHSNumber, got[len(got)-1].NHSNumber)
	}
}
