package cissim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// The admin API under /_sim/ (Config.Admin; loopback clients addressing
// the simulator by one of its own names, see ownHosts):
//
//	GET  /_sim/sessions               JSON list of SessionInfo
//	POST /_sim/sessions/{id}/expire   end a session as timed out
//	POST /_sim/sessions/{id}/logout   end a session as logged out
//	PUT  /_sim/maintenance            {"on": true|false}

const maxAdminBody = 1024

func (s *Simulator) adminRoutes(mux *http.ServeMux) {
	// Loopback only, under one of the simulator's own names (no DNS
	// rebinding), and no cross-site requests from a browser on this
	// machine either.
	csrf := http.NewCrossOriginProtection()
	a := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.localOnly(csrf.Handler(h))) }
	a("GET /_sim/sessions", func(w http.ResponseWriter, _ *http.Request) {
		list := s.Sessions()
		if list == nil {
			list = []SessionInfo{}
		}
		writeJSON(w, http.StatusOK, list)
	})
	end := func(f func(string) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := f(r.PathValue("id")); err != nil {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such live session"})
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}
	a("POST /_sim/sessions/{id}/expire", end(s.ExpireSession))
	a("POST /_sim/sessions/{id}/logout", end(s.LogoutSession))
	a("PUT /_sim/maintenance", func(w http.ResponseWriter, r *http.Request) {
		body, err := readCapped(w, r, maxAdminBody)
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
			return
		}
		on, err := parseMaintenanceSwitch(body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.SetMaintenance(on)
		s.log.Info("maintenance switched by admin API", "on", on)
		writeJSON(w, http.StatusOK, map[string]bool{"on": on})
	})
}

// parseMaintenanceSwitch parses {"on": true|false}: exactly that key,
// nothing else, nothing after.
func parseMaintenanceSwitch(body []byte) (bool, error) {
	var req struct {
		On *bool `json:"on"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&req); err != nil {
		return false, errors.New(`want {"on": true} or {"on": false}`)
	}
	if _, err := d.Token(); err != io.EOF {
		return false, errors.New("trailing data after the JSON object")
	}
	if req.On == nil {
		return false, errors.New(`missing "on"`)
	}
	return *req.On, nil
}

// localOnly refuses clients whose address is not loopback, and requests
// whose Host is not one of the simulator's own (a DNS-rebound name).
func (s *Simulator) localOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := remoteAddr(r); !a.IsValid() || !a.IsLoopback() {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "admin API is for loopback clients only"})
			return
		}
		if !s.hosts.allows(r.Host) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "admin API: Host is not a loopback address, localhost or a configured host name"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding"}`)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeBody(w, code, "application/json", append(b, '\n'))
}
