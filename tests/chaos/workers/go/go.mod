module github.com/libsaq/libsaq/tests/chaos/workers/go

go 1.23

require github.com/libsaq/libsaq/bindings/go v0.0.0

replace github.com/libsaq/libsaq/bindings/go => ../../../../bindings/go
