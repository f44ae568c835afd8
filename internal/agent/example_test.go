package agent_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/agent"
)

// The daemon: an agent following the readers, its Ticket API on loopback
// and a unix socket, and the terminal for the PIN.
func ExampleAgent_Run() {
	env, err := cis.ResolveEnvironment("dev")
	if err != nil {
		log.Fatal(err)
	}
	a, err := agent.New(agent.Config{Env: env, Module: agent.DefaultModule(), Mode: agent.ModeNormal})
	if err != nil {
		log.Fatal(err)
	}
	srv, err := agent.NewServer(a, agent.ServerConfig{
		Addr: agent.DefaultListen, Socket: agent.RuntimeDir() + "/agent.sock", SecretFile: agent.RuntimeDir() + "/secret",
		AllowedOrigins: []string{"https://app.example.nhs.uk"}, UID: -1,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go srv.Serve(ctx)
	go (&agent.Terminal{In: os.Stdin, Out: os.Stderr}).Run(ctx, a)
	if err := a.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

// An Identity Agent registry file, as NHS Digital's page prints it, turned
// into the agent's configuration.
func ExampleImportRegistry() {
	reg := "Windows Registry Editor Version 5.00\r\n\r\n" +
		`[HKEY_LOCAL_MACHINE\SOFTWARE\Wow6432Node\HSCIC\Identity Agent]` + "\r\n" +
		`"ActivatePOSTURL"="https://gas.vn03.national.ncrs.nhs.uk/login/authactivate"` + "\r\n" +
		`"LaunchAppsPath"="https://portal.vn03.national.ncrs.nhs.uk"` + "\r\n" +
		`"MobilityPersistence_Available"="False"` + "\r\n" +
		`"SessionLockPersistence_Enabled"="True"` + "\r\n"
	im, err := agent.ImportRegistry([]byte(reg), agent.ImportOptions{})
	if err != nil {
		log.Fatal(err)
	}
	y, _ := im.Settings.YAML()
	fmt.Print(string(y))
	// Output:
	// env: dev
	// mode: session-lock
}
