package cissim

import (
	"errors"
	"net/url"
	"strings"
)

const maxQuery = 4096

var errQuery = errors.New("malformed query")

// queryValue returns the single value of key in a raw query string,
// percent-decoded ("+" as space). A key given twice is an error (which of
// two tokens would be meant?); a missing key returns "", false, nil. It
// does not build the map url.ParseQuery would, which keeps RoleAssertion
// cheap.
func queryValue(raw, key string) (string, bool, error) {
	if len(raw) > maxQuery {
		return "", false, errQuery
	}
	var (
		val   string
		found bool
	)
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if strings.IndexByte(k, '%') >= 0 || strings.IndexByte(k, '+') >= 0 {
			dk, err := url.QueryUnescape(k)
			if err != nil {
				return "", false, errQuery
			}
			k = dk
		}
		if k != key {
			continue
		}
		if found {
			return "", false, errQuery
		}
		found = true
		if strings.IndexByte(v, '%') >= 0 || strings.IndexByte(v, '+') >= 0 {
			dv, err := url.QueryUnescape(v)
			if err != nil {
				return "", false, errQuery
			}
			v = dv
		}
		val = v
	}
	return val, found, nil
}
