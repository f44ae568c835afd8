module github.com/opencis/cisauth

go 1.26.0

require (
	github.com/ebfe/scard v0.0.0-20241214075232-7af069cabc25 // indirect
	github.com/miekg/pkcs11 v1.1.2 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/term v0.48.0 // indirect
)
