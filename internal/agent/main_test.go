package agent

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/opencis/cisauth/internal/browsertest"
)

// browsers is the package's headless Chromium, shared by its browser tests.
var browsers browsertest.Pool

func TestMain(m *testing.M) {
	if job := os.Getenv(envClient); job != "" {
		runClient(job)
		os.Exit(0)
	}
	code := m.Run()
	browsers.Close()
	os.Exit(code)
}

// envClient makes the test binary, started again as another user, act as
// a client of the Ticket API (see TestMain and runClient).
const envClient = "CISAGENT_TEST_CLIENT"

// clientJob is what the other user's client is told: where the agent is,
// and the secret (which the client could not read from the file: the test
// hands it over, to show that even the secret does not let another user in).
type clientJob struct {
	URL, Socket, Secret, SecretFile string
}

// clientResult is what the client saw.
type clientResult struct {
	TCPStatus    int    `json:"tcp_status"`
	TCPBody      string `json:"tcp_body"`
	UnixStatus   int    `json:"unix_status"`
	UnixBody     string `json:"unix_body"`
	SecretReadOK bool   `json:"secret_read_ok"`
	Error        string `json:"error,omitempty"`
}

// runClient asks the agent for the ticket over TCP (with the secret) and
// over the unix socket, and prints what it got as JSON.
func runClient(jobJSON string) {
	var job clientJob
	var res clientResult
	defer func() { json.NewEncoder(os.Stdout).Encode(res) }()
	if err := json.Unmarshal([]byte(jobJSON), &job); err != nil {
		res.Error = err.Error()
		return
	}
	_, err := os.ReadFile(job.SecretFile)
	res.SecretReadOK = err == nil
	read := func(c *http.Client, url string, bearer bool) (int, string) {
		req, _ := http.NewRequest("GET", url, nil)
		if bearer {
			req.Header.Set("Authorization", "Bearer "+job.Secret)
		}
		resp, err := c.Do(req)
		if err != nil {
			return -1, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	res.TCPStatus, res.TCPBody = read(http.DefaultClient, job.URL+"/ticket?noauth=1", true)
	res.UnixStatus, res.UnixBody = read(unixClient(job.Socket), "http://agent/ticket?noauth=1", false)
}
