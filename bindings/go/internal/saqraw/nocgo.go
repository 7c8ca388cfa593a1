// SPDX-License-Identifier: MIT
//go:build !cgo

package saqraw

// The libsaq Go binding calls the C library libsaq through cgo, so it cannot
// be built with CGO_ENABLED=0. Build with CGO_ENABLED=1, a C compiler, and
// libsaq installed where pkg-config finds it (PKG_CONFIG_PATH).
//
// The undefined identifier below makes such a build fail with a message
// that says so, instead of a list of undefined saqraw functions.
var _ = libsaq_Go_binding_requires_cgo__build_with_CGO_ENABLED_1_and_libsaq_in_PKG_CONFIG_PATH
