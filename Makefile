.PHONY: run test test-race bench lint

run:
	go run ./cmd/boomerang serve --dev

test:
	go test ./...

test-race:
	go test -race ./...

bench:
	go test -run '^$$' -bench . -benchtime 3s ./...

lint:
	go vet ./...
	test -z "$$(gofmt -l .)"
