# SPDX-License-Identifier: MIT
# frozen_string_literal: true

module Saq
  # Version of this gem. It follows the version of libsaq it is released with.
  VERSION = "0.2.0"
end
