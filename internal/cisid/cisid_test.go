package cisid

import "testing"

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{
		"555000000001":  true,
		"000000000000":  true,
		"55500000000":   false, // 11
		"5550000000011": false, // 13
		"55500000000a":  false,
		"５５５000000001":  false, // full-width digits are not ASCII
		" 55500000001":  false,
		"":              false,
	} {
		if got := Valid(s); got != want {
			t.Errorf("Valid(%q) = %v, want %v", s, got, want)
		}
	}
}
