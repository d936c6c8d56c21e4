// A small check harness: CHECK(cond) << "context"; sections print a one-line summary each; failures print the
// condition, file:line and the context. The program's exit status is non-zero when any check failed.
#pragma once

#include <cstdio>
#include <sstream>
#include <string>

namespace contract {

struct Tally {
  int checks = 0;
  int failures = 0;
};

Tally& total();

class Section {
 public:
  explicit Section(std::string name);
  ~Section();
  Section(Section const&) = delete;
  Section& operator=(Section const&) = delete;

 private:
  std::string name_;
  Tally start_;
};

// Collects the streamed context of one check and reports at the end of the full expression.
class CheckResult {
 public:
  CheckResult(bool ok, char const* expr, char const* file, int line) : ok_(ok), expr_(expr), file_(file), line_(line) {}
  ~CheckResult();
  CheckResult(CheckResult const&) = delete;
  CheckResult& operator=(CheckResult const&) = delete;
  template <typename T>
  CheckResult& operator<<(T const& v) {
    if (!ok_) context_ << v;
    return *this;
  }

 private:
  bool ok_;
  char const* expr_;
  char const* file_;
  int line_;
  std::ostringstream context_;
};

}  // namespace contract

#define CHECK(cond) ::contract::CheckResult(static_cast<bool>(cond), #cond, __FILE__, __LINE__)
