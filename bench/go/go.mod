module github.com/libsaq/libsaq/bench/go

go 1.23

require github.com/libsaq/libsaq/bindings/go v0.0.0

replace github.com/libsaq/libsaq/bindings/go => ../../bindings/go
