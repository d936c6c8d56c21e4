#include "check.h"

#include <iostream>

namespace contract {

Tally& total() {
  static Tally t;
  return t;
}

Section::Section(std::string name) : name_(std::move(name)), start_(total()) {}

Section::~Section() {
  int const checks = total().checks - start_.checks;
  int const failures = total().failures - start_.failures;
  std::cout << (failures == 0 ? "  ok    " : "  FAIL  ") << name_ << ": " << checks << " checks";
  if (failures != 0) std::cout << ", " << failures << " failed";
  std::cout << std::endl;
}

CheckResult::~CheckResult() {
  ++total().checks;
  if (ok_) return;
  ++total().failures;
  std::cout << "        check failed: " << expr_ << " (" << file_ << ":" << line_ << ")";
  std::string const ctx = context_.str();
  if (!ctx.empty()) std::cout << ": " << ctx;
  std::cout << std::endl;
}

}  // namespace contract
