module github.com/libsaq/libsaq/bindings/go

go 1.23
