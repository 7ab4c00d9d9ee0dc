// Synthetic elections: see quorum/election/synthetic.hpp.
#include <quorum/election/synthetic.hpp>

#include <quorum/host/assert.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string_view>
#include <system_error>

namespace quorum::election::synthetic {
namespace {

using Json = nlohmann::ordered_json;

// ---- deterministic randomness -------------------------------------------

uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// One independent stream per (seed, domain, index): precinct p's ballots do
// not depend on any other precinct, so precincts are written one at a time.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t domain, uint64_t index) {
    uint64_t mix = seed;
    state_ = splitmix(mix) ^ (domain * 0xD6E8FEB86659FD93ULL);
    state_ = splitmix(state_) ^ index;
    splitmix(state_);
  }
  uint64_t next() { return splitmix(state_); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint64_t below(uint64_t n) {
    QUORUM_ASSERT(n > 0);
    return next() % n;
  }
  bool chance(double p) { return uniform() < p; }
  double normal(double mean, double sd) {  // Box-Muller
    const double u1 = std::max(uniform(), 1e-12);
    const double u2 = uniform();
    return mean + sd * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_ = 0;
};

enum Domain : uint64_t { kCountyLean = 1, kPrecinct = 2, kNames = 3, kMeasure = 4 };

// ---- the election's shape -----------------------------------------------

enum class Family { kStatewide, kCongress, kHouse, kCounty, kMeasure, kRcv };

struct Party {
  const char* id;
  const char* name;
  const char* abbreviation;
};
constexpr std::array<Party, 4> kParties{{{"par-dem", "Democratic Party", "DEM"},
                                         {"par-rep", "Republican Party", "REP"},
                                         {"par-lib", "Libertarian Party", "LIB"},
                                         {"par-grn", "Green Party", "GRN"}}};
enum PartyIndex : int { kNoParty = -1, kDem = 0, kRep = 1, kLib = 2, kGrn = 3 };

constexpr std::array<const char*, 60> kCountyNames{
    "Adams",    "Baker",  "Carson",   "Dawson",   "Eaton",    "Fairfield", "Grant",     "Hamilton", "Irving",
    "Jackson",  "Kent",   "Lincoln",  "Madison",  "Newton",   "Oakland",   "Pierce",    "Quincy",   "Ross",
    "Sheridan", "Travis", "Union",    "Vernon",   "Warren",   "Yates",     "Allen",     "Benton",   "Clay",
    "Douglas",  "Elk",    "Franklin", "Greene",   "Harrison", "Iron",      "Jefferson", "Knox",     "Lake",
    "Marion",   "Nelson", "Orange",   "Perry",    "Randolph", "Scott",     "Taylor",    "Upton",    "Van Buren",
    "Wayne",    "York",   "Boone",    "Crawford", "Dallas",   "Emery",     "Fulton",    "Gibson",   "Henry",
    "Logan",    "Monroe", "Noble",    "Owen",     "Polk",     "Stark"};
constexpr std::array<const char*, 40> kFirstNames{
    "Maria", "James",  "Aisha",  "Robert", "Mei",   "David",  "Sofia",  "Michael", "Priya",  "William",
    "Elena", "Joseph", "Fatima", "Thomas", "Grace", "Daniel", "Hannah", "Carlos",  "Olivia", "Samuel",
    "Nora",  "Kevin",  "Leila",  "Brian",  "Rosa",  "Andrew", "Chloe",  "Marcus",  "Ingrid", "Peter",
    "Yuki",  "Omar",   "Claire", "Victor", "Ruth",  "Tomas",  "Alice",  "Hector",  "Jane",   "Emil"};
constexpr std::array<const char*, 40> kLastNames{
    "Garcia",  "Johnson", "Nguyen",   "Smith",  "Okafor", "Brown",  "Kowalski", "Miller", "Haddad",  "Davis",
    "Lopez",   "Wilson",  "Andersen", "Moore",  "Tanaka", "Taylor", "Schmidt",  "Thomas", "Rossi",   "Martin",
    "Jackson", "White",   "Petrov",   "Harris", "Silva",  "Clark",  "Lewis",    "Walker", "Young",   "Allen",
    "King",    "Wright",  "Scott",    "Green",  "Baker",  "Adams",  "Nelson",   "Hill",   "Ramirez", "Campbell"};
constexpr std::array<const char*, 8> kWriteInNames{"Mickey Mouse",      "Jane Q. Public", "Abraham Lincoln",
                                                   "None of them",      "My neighbor",    "Donald Duck",
                                                   "Eleanor Roosevelt", "Sam Write"};

struct Selection {
  std::string id;
  std::string candidate_id;  // "" for a write-in line or a measure choice
  std::string name;          // candidate's name, or "Yes"/"No"
  int party = kNoParty;
  bool write_in = false;
};

struct Contest {
  std::string id;
  std::string name;
  Family family = Family::kStatewide;
  std::string district;  // unit id
  uint64_t votes_allowed = 1;
  uint64_t ranks = 0;  // ranked-choice: ranks on the ballot
  std::vector<Selection> selections;
};

std::string pad(uint64_t value, int width) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%0*llu", width, static_cast<unsigned long long>(value));
  return buffer;
}

int digits(uint64_t n) {
  int d = 1;
  while (n >= 10) {
    n /= 10;
    ++d;
  }
  return d;
}

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Block k of K over n precincts: [first(k), first(k+1)); precinct p is in block p*K/n.
uint64_t block_first(uint64_t k, uint64_t blocks, uint64_t n) { return ceil_div(k * n, blocks); }
uint64_t block_of(uint64_t p, uint64_t blocks, uint64_t n) { return p * blocks / n; }

// Everything about the election that is not per ballot (bounded: a few
// hundred contests).
class Model {
 public:
  Model(const Options& options, const Plan& plan) : options_(options), plan_(plan) {
    precinct_width_ = std::max(4, digits(plan.precincts));
    build_contests();
  }

  const Plan& plan() const { return plan_; }
  const std::vector<Contest>& contests() const { return contests_; }

  std::string state_id() const { return "ru-state"; }
  std::string county_id(uint64_t k) const { return "ru-county-" + pad(k + 1, 2); }
  std::string county_name(uint64_t k) const { return std::string(kCountyNames[k]) + " County"; }
  std::string congress_id(uint64_t k) const { return "ru-congress-" + pad(k + 1, 2); }
  std::string house_id(uint64_t k) const { return "ru-house-" + pad(k + 1, 2); }
  std::string city_id() const { return "ru-city-1"; }
  std::string city_name() const { return std::string(kCountyNames[0]) + " City"; }
  std::string precinct_id(uint64_t p) const { return "prec-" + pad(p + 1, precinct_width_); }
  std::string precinct_name(uint64_t p) const {
    const uint64_t county = county_of(p);
    return std::string(kCountyNames[county]) + " Precinct " +
           std::to_string(p - block_first(county, plan_.counties, plan_.precincts) + 1);
  }
  std::string ballot_style_id(uint64_t p) const { return "bs-" + precinct_id(p); }

  uint64_t county_of(uint64_t p) const { return block_of(p, plan_.counties, plan_.precincts); }
  uint64_t congress_of(uint64_t p) const { return block_of(p, plan_.congressional, plan_.precincts); }
  uint64_t house_of(uint64_t p) const { return block_of(p, plan_.house, plan_.precincts); }

  // Indices into contests() on precinct p's ballot, in ballot order.
  void contests_of(uint64_t p, std::vector<size_t>& out) const {
    out.clear();
    for (size_t i : statewide_) out.push_back(i);
    if (congress_first_ != kNone) out.push_back(congress_first_ + congress_of(p));
    if (house_first_ != kNone) out.push_back(house_first_ + house_of(p));
    if (county_first_ != kNone) out.push_back(county_first_ + county_of(p));
    if (measure_ != kNone) out.push_back(measure_);
    if (rcv_ != kNone && p < plan_.city_precincts) out.push_back(rcv_);
  }

  // The county's partisan lean: probability that a voter leans Democratic.
  double county_lean(uint64_t county) const {
    Rng rng(options_.seed, kCountyLean, county);
    return std::clamp(rng.normal(0.5, 0.12), 0.15, 0.85);
  }

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);

  std::string person(Rng& rng) {
    for (;;) {
      std::string name =
          std::string(kFirstNames[rng.below(kFirstNames.size())]) + " " + kLastNames[rng.below(kLastNames.size())];
      if (used_names_.size() >= kFirstNames.size() * kLastNames.size() / 2 || !used(name)) {
        used_names_.push_back(name);
        return name;
      }
    }
  }
  bool used(const std::string& name) const {
    return std::find(used_names_.begin(), used_names_.end(), name) != used_names_.end();
  }

  void add_candidates(Contest& contest, const std::string& stem, const std::vector<int>& parties, bool write_in,
                      Rng& rng) {
    int n = 0;
    for (const int party : parties) {
      ++n;
      Selection selection;
      selection.id = "cs-" + stem + "-" + std::to_string(n);
      selection.candidate_id = "can-" + stem + "-" + std::to_string(n);
      selection.name = person(rng);
      selection.party = party;
      contest.selections.push_back(std::move(selection));
    }
    if (write_in) {
      Selection selection;
      selection.id = "cs-" + stem + "-wi";
      selection.name = "Write-in";
      selection.write_in = true;
      contest.selections.push_back(std::move(selection));
    }
  }

  void build_contests() {
    Rng rng(options_.seed, kNames, 0);
    const Families& f = options_.families;
    if (f.statewide) {
      Contest governor{"cc-governor", "Governor", Family::kStatewide, state_id(), 1, 0, {}};
      add_candidates(governor, "governor", {kDem, kRep, kLib}, true, rng);
      statewide_.push_back(contests_.size());
      contests_.push_back(std::move(governor));
      Contest senate{"cc-us-senate", "United States Senator", Family::kStatewide, state_id(), 1, 0, {}};
      add_candidates(senate, "us-senate", {kDem, kRep, kGrn}, true, rng);
      statewide_.push_back(contests_.size());
      contests_.push_back(std::move(senate));
    }
    if (f.congress) {
      congress_first_ = contests_.size();
      for (uint64_t k = 0; k < plan_.congressional; ++k) {
        const std::string n = pad(k + 1, 2);
        Contest c{"cc-congress-" + n,
                  "Representative in Congress, District " + std::to_string(k + 1),
                  Family::kCongress,
                  congress_id(k),
                  1,
                  0,
                  {}};
        add_candidates(c, "congress-" + n, {kDem, kRep}, true, rng);
        contests_.push_back(std::move(c));
      }
    }
    if (f.house) {
      house_first_ = contests_.size();
      for (uint64_t k = 0; k < plan_.house; ++k) {
        const std::string n = pad(k + 1, 2);
        Contest c{"cc-house-" + n,
                  "State Representative, District " + std::to_string(k + 1),
                  Family::kHouse,
                  house_id(k),
                  1,
                  0,
                  {}};
        std::vector<int> parties{kDem, kRep};
        if (rng.chance(0.25)) parties.push_back(kLib);
        add_candidates(c, "house-" + n, parties, true, rng);
        contests_.push_back(std::move(c));
      }
    }
    if (f.county) {
      county_first_ = contests_.size();
      for (uint64_t k = 0; k < plan_.counties; ++k) {
        const std::string n = pad(k + 1, 2);
        Contest c{"cc-commission-" + n, county_name(k) + " Commissioner", Family::kCounty, county_id(k), 2, 0, {}};
        add_candidates(c, "commission-" + n, {kDem, kDem, kRep, kRep}, true, rng);
        contests_.push_back(std::move(c));
      }
    }
    if (f.measure) {
      measure_ = contests_.size();
      Contest c{"bm-state-1", "Measure 1: Public Library Bond", Family::kMeasure, state_id(), 1, 0, {}};
      c.selections.push_back({"cs-state-1-yes", "", "Yes", kNoParty, false});
      c.selections.push_back({"cs-state-1-no", "", "No", kNoParty, false});
      contests_.push_back(std::move(c));
    }
    if (f.rcv) {
      rcv_ = contests_.size();
      Contest c{"cc-mayor", "Mayor of " + city_name() + " (ranked choice)", Family::kRcv, city_id(), 1, 3, {}};
      add_candidates(c, "mayor", {kNoParty, kNoParty, kNoParty, kNoParty, kNoParty}, false, rng);
      contests_.push_back(std::move(c));
    }
    QUORUM_ASSERT(contests_.size() == plan_.contests);
  }

  const Options& options_;
  Plan plan_;
  int precinct_width_ = 4;
  std::vector<Contest> contests_;
  std::vector<std::string> used_names_;
  std::vector<size_t> statewide_;
  size_t congress_first_ = kNone;
  size_t house_first_ = kNone;
  size_t county_first_ = kNone;
  size_t measure_ = kNone;
  size_t rcv_ = kNone;
};

// ---- JSON text helpers ----------------------------------------------------

std::string json_quote(std::string_view text) { return Json(std::string(text)).dump(); }

Json text(const std::string& content) {
  return Json{
      {"Text",
       Json::array({Json{{"Content", content}, {"Language", "en"}, {"@type", "ElectionResults.LanguageString"}}})},
      {"@type", "ElectionResults.InternationalizedText"}};
}

// A file written through a buffer; the first failure is remembered.
class Output {
 public:
  explicit Output(const std::filesystem::path& path) : path_(path), file_(path, std::ios::binary | std::ios::trunc) {}
  bool opened() const { return file_.is_open(); }
  Output& operator<<(std::string_view text) {
    file_.write(text.data(), static_cast<std::streamsize>(text.size()));
    return *this;
  }
  Result<void> close() {
    file_.close();
    if (file_.fail()) {
      return Error{ErrorCode::kIo, "cannot write " + path_.string()};
    }
    return {};
  }

 private:
  std::filesystem::path path_;
  std::ofstream file_;
};

// A reporting unit whose ComposingGpUnitIds are streamed (a county may hold
// thousands of precincts).
template <class EachChild>
void write_unit(Output& out, const std::string& id, const std::string& type, const std::string& name,
                const std::string& number, uint64_t children, EachChild child) {
  out << "{\"@id\":" << json_quote(id) << ",\"@type\":\"ElectionResults.ReportingUnit\",\"Type\":" << json_quote(type);
  if (!number.empty()) out << ",\"Number\":" << json_quote(number);
  out << ",\"Name\":" << text(name).dump();
  if (children > 0) {
    out << ",\"ComposingGpUnitIds\":[";
    for (uint64_t i = 0; i < children; ++i) {
      out << (i == 0 ? "" : ",") << json_quote(child(i));
    }
    out << "]";
  }
  out << "}";
}

Result<void> write_definition(const Model& model, const Options& options, const std::filesystem::path& path) {
  const Plan& plan = model.plan();
  Output out(path);
  if (!out.opened()) {
    return Error{ErrorCode::kIo, "cannot create " + path.string()};
  }
  const std::string generated = options.date + "T06:00:00Z";
  out << "{\"@type\":\"ElectionResults.ElectionReport\",\"Format\":\"precinct-level\",\"GeneratedDate\":"
      << json_quote(generated)
      << ",\"Issuer\":\"Quorum synthetic election generator\",\"IssuerAbbreviation\":\"Quorum\""
      << ",\"SequenceStart\":1,\"SequenceEnd\":1,\"Status\":\"pre-election\",\"IsTest\":true,\"TestType\":\"synthetic\""
      << ",\"VendorApplicationId\":\"quorumctl gen (seed " << std::to_string(options.seed) << ")\"";

  out << ",\n\"Party\":[";
  for (size_t i = 0; i < kParties.size(); ++i) {
    Json party{{"@id", kParties[i].id},
               {"@type", "ElectionResults.Party"},
               {"Name", text(kParties[i].name)},
               {"Abbreviation", text(kParties[i].abbreviation)}};
    out << (i == 0 ? "\n" : ",\n") << party.dump();
  }
  out << "]";

  // GpUnits: state, counties, districts, city, precincts.
  const uint64_t n = plan.precincts;
  out << ",\n\"GpUnit\":[\n";
  write_unit(out, model.state_id(), "state", "State of Synthetica", "", plan.counties,
             [&](uint64_t k) { return model.county_id(k); });
  auto block_unit = [&](const std::string& id, const std::string& type, const std::string& name,
                        const std::string& number, uint64_t k, uint64_t blocks) {
    const uint64_t first = block_first(k, blocks, n);
    const uint64_t last = block_first(k + 1, blocks, n);
    out << ",\n";
    write_unit(out, id, type, name, number, last - first, [&](uint64_t i) { return model.precinct_id(first + i); });
  };
  for (uint64_t k = 0; k < plan.counties; ++k) {
    block_unit(model.county_id(k), "county", model.county_name(k), "", k, plan.counties);
  }
  for (uint64_t k = 0; k < plan.congressional; ++k) {
    block_unit(model.congress_id(k), "congressional", "Congressional District " + std::to_string(k + 1),
               std::to_string(k + 1), k, plan.congressional);
  }
  for (uint64_t k = 0; k < plan.house; ++k) {
    block_unit(model.house_id(k), "state-house", "State House District " + std::to_string(k + 1), std::to_string(k + 1),
               k, plan.house);
  }
  if (plan.city_precincts > 0) {
    out << ",\n";
    write_unit(out, model.city_id(), "city", model.city_name(), "", plan.city_precincts,
               [&](uint64_t i) { return model.precinct_id(i); });
  }
  for (uint64_t p = 0; p < n; ++p) {
    out << ",\n";
    write_unit(out, model.precinct_id(p), "precinct", model.precinct_name(p), "", 0,
               [](uint64_t) { return std::string(); });
  }
  out << "\n]";

  // The election: ballot styles (one per precinct), candidates, contests.
  out << ",\n\"Election\":[{\"@type\":\"ElectionResults.Election\",\"ElectionScopeId\":" << json_quote(model.state_id())
      << ",\"Name\":"
      << text("Synthetica General Election " + options.date.substr(0, 4) + " (" + options.name + ")").dump()
      << ",\"StartDate\":" << json_quote(options.date) << ",\"EndDate\":" << json_quote(options.date)
      << ",\"Type\":\"general\"";
  out << ",\n\"Candidate\":[";
  bool first = true;
  for (const Contest& contest : model.contests()) {
    for (const Selection& selection : contest.selections) {
      if (selection.candidate_id.empty()) continue;
      Json candidate{{"@id", selection.candidate_id},
                     {"@type", "ElectionResults.Candidate"},
                     {"BallotName", text(selection.name)}};
      if (selection.party != kNoParty) candidate["PartyId"] = kParties[static_cast<size_t>(selection.party)].id;
      out << (first ? "\n" : ",\n") << candidate.dump();
      first = false;
    }
  }
  out << "\n]";
  out << ",\n\"Contest\":[";
  first = true;
  for (const Contest& contest : model.contests()) {
    Json c;
    c["@id"] = contest.id;
    const bool measure = contest.family == Family::kMeasure;
    c["@type"] = measure ? "ElectionResults.BallotMeasureContest" : "ElectionResults.CandidateContest";
    c["Name"] = contest.name;
    c["ElectionDistrictId"] = contest.district;
    if (measure) {
      c["Type"] = "initiative";
      c["FullText"] = text("Shall the State issue bonds of up to $200 million to build and repair public libraries?");
      c["VoteVariation"] = "n-of-m";
    } else {
      c["VotesAllowed"] = contest.votes_allowed;
      c["NumberElected"] = contest.votes_allowed;
      c["VoteVariation"] =
          contest.family == Family::kRcv ? "rcv" : (contest.votes_allowed > 1 ? "n-of-m" : "plurality");
    }
    Json selections = Json::array();
    for (const Selection& selection : contest.selections) {
      Json s{{"@id", selection.id}};
      if (measure) {
        s["@type"] = "ElectionResults.BallotMeasureSelection";
        s["Selection"] = text(selection.name);
      } else {
        s["@type"] = "ElectionResults.CandidateSelection";
        if (selection.write_in) {
          s["IsWriteIn"] = true;
        } else {
          s["CandidateIds"] = Json::array({selection.candidate_id});
        }
      }
      selections.push_back(std::move(s));
    }
    c["ContestSelection"] = std::move(selections);
    out << (first ? "\n" : ",\n") << c.dump();
    first = false;
  }
  out << "\n]";
  out << ",\n\"BallotStyle\":[";
  std::vector<size_t> on_ballot;
  for (uint64_t p = 0; p < n; ++p) {
    model.contests_of(p, on_ballot);
    out << (p == 0 ? "\n" : ",\n") << "{\"@type\":\"ElectionResults.BallotStyle\",\"GpUnitIds\":["
        << json_quote(model.precinct_id(p))
        << "],\"ExternalIdentifier\":[{\"@type\":\"ElectionResults.ExternalIdentifier\""
        << ",\"Type\":\"local-level\",\"Value\":" << json_quote(model.ballot_style_id(p)) << "}],\"OrderedContent\":[";
    for (size_t i = 0; i < on_ballot.size(); ++i) {
      out << (i == 0 ? "" : ",") << "{\"@type\":\"ElectionResults.OrderedContest\",\"ContestId\":"
          << json_quote(model.contests()[on_ballot[i]].id) << "}";
    }
    out << "]}";
  }
  out << "\n]}]}\n";
  return out.close();
}

// ---- ballots ----------------------------------------------------------------

// How a voter of precinct p fills in one contest: the selections marked (in
// rank order for ranked choice).
struct Voter {
  bool leans_dem = true;
  double position = 0.0;  // -1 (left) .. 1 (right), for nonpartisan contests
};

int major(const Voter& voter, Rng& rng) {
  // 90% vote their lean's party in partisan contests, 10% cross over.
  const bool dem = rng.chance(0.9) ? voter.leans_dem : !voter.leans_dem;
  return dem ? kDem : kRep;
}

double undervote_rate(Family family) {
  switch (family) {
    case Family::kStatewide:
      return 0.015;
    case Family::kCongress:
      return 0.03;
    case Family::kHouse:
      return 0.05;
    case Family::kCounty:
      return 0.07;
    case Family::kMeasure:
      return 0.09;
    case Family::kRcv:
      return 0.05;
  }
  return 0.05;
}

void choose(const Contest& contest, const Voter& voter, double measure_yes, Rng& rng, std::vector<size_t>& marks) {
  marks.clear();
  const auto& s = contest.selections;
  if (rng.chance(undervote_rate(contest.family))) {
    return;  // left blank
  }
  if (contest.family == Family::kMeasure) {
    marks.push_back(rng.chance(measure_yes) ? 0 : 1);
  } else if (contest.family == Family::kRcv) {
    // Rank candidates by distance from the voter on a left-right line, with noise.
    std::vector<std::pair<double, size_t>> order;
    for (size_t i = 0; i < s.size(); ++i) {
      const double place = -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(std::max<size_t>(1, s.size() - 1));
      order.emplace_back(std::abs(place - voter.position) + rng.normal(0.0, 0.35), i);
    }
    std::sort(order.begin(), order.end());
    const double u = rng.uniform();
    const uint64_t ranked = std::min<uint64_t>(contest.ranks, u < 0.2 ? 1 : (u < 0.4 ? 2 : contest.ranks));
    for (uint64_t r = 0; r < ranked && r < order.size(); ++r) marks.push_back(order[r].second);
  } else {
    // Candidates by party; the write-in line, when there is one, is last.
    const bool has_write_in = !s.empty() && s.back().write_in;
    const size_t named = s.size() - (has_write_in ? 1 : 0);
    auto pick_one = [&]() -> size_t {
      if (has_write_in && rng.chance(0.008)) return named;
      if (rng.chance(0.04)) {  // a minor-party candidate, when there is one
        std::vector<size_t> minors;
        for (size_t i = 0; i < named; ++i)
          if (s[i].party != kDem && s[i].party != kRep) minors.push_back(i);
        if (!minors.empty()) return minors[rng.below(minors.size())];
      }
      const int party = major(voter, rng);
      std::vector<size_t> of_party;
      for (size_t i = 0; i < named; ++i)
        if (s[i].party == party) of_party.push_back(i);
      if (of_party.empty()) return rng.below(named);
      return of_party[rng.below(of_party.size())];
    };
    const uint64_t wanted = contest.votes_allowed == 1 ? 1 : (rng.chance(0.1) ? 1 : contest.votes_allowed);
    for (int attempts = 0; marks.size() < wanted && attempts < 32; ++attempts) {
      const size_t pick = pick_one();
      if (std::find(marks.begin(), marks.end(), pick) == marks.end()) marks.push_back(pick);
    }
  }
  // An overvote: one mark too many (a vote-for-N contest only).
  if (contest.family != Family::kRcv && rng.chance(0.003)) {
    for (int attempts = 0; marks.size() <= contest.votes_allowed && attempts < 32; ++attempts) {
      const size_t extra = rng.below(s.size());
      if (std::find(marks.begin(), marks.end(), extra) == marks.end()) marks.push_back(extra);
    }
  }
}

// Appends one CVRContest (JSON text) for the marks.
void append_contest(std::string& out, const Contest& contest, const std::vector<size_t>& marks, Rng& rng) {
  const bool rcv = contest.family == Family::kRcv;
  const uint64_t n = contest.votes_allowed;
  const uint64_t m = marks.size();
  const bool over = !rcv && m > n;
  const uint64_t overvotes = over ? n : 0;
  const uint64_t undervotes = over ? 0 : (rcv ? (m == 0 ? 1 : 0) : n - m);
  out += "{\"@type\":\"CVR.CVRContest\",\"ContestId\":";
  out += json_quote(contest.id);
  if (m > 0) {
    out += ",\"CVRContestSelection\":[";
    for (uint64_t i = 0; i < m; ++i) {
      const Selection& selection = contest.selections[marks[i]];
      if (i > 0) out += ",";
      out += "{\"@type\":\"CVR.CVRContestSelection\",\"ContestSelectionId\":";
      out += json_quote(selection.id);
      out += ",\"OptionPosition\":" + std::to_string(marks[i] + 1);
      out += ",\"SelectionPosition\":[{\"@type\":\"CVR.SelectionPosition\",\"HasIndication\":\"yes\",\"IsAllocable\":";
      out += over ? "\"no\"" : "\"yes\"";
      out += ",\"NumberVotes\":1";
      if (rcv) out += ",\"Rank\":" + std::to_string(i + 1);
      if (selection.write_in) {
        out += ",\"CVRWriteIn\":{\"@type\":\"CVR.CVRWriteIn\",\"Text\":";
        out += json_quote(kWriteInNames[rng.below(kWriteInNames.size())]);
        out += "}";
      }
      out += "}]";
      if (!over) out += ",\"TotalNumberVotes\":1";
      out += "}";
    }
    out += "]";
  }
  out += ",\"Overvotes\":" + std::to_string(overvotes) + ",\"Undervotes\":" + std::to_string(undervotes);
  if (over) {
    out += ",\"Status\":[\"overvoted\"]";
  } else if (undervotes > 0) {
    out += ",\"Status\":[\"undervoted\"]";
  }
  out += "}";
}

// The CVR file's header: election (contests, candidates), parties, device.
std::string cvr_header(const Model& model, const Options& options) {
  Json election{{"@id", options.name}, {"@type", "CVR.Election"}, {"ElectionScopeId", model.state_id()}};
  election["Name"] = "Synthetica General Election " + options.date.substr(0, 4) + " (" + options.name + ")";
  Json candidates = Json::array();
  Json contests = Json::array();
  for (const Contest& contest : model.contests()) {
    const bool measure = contest.family == Family::kMeasure;
    Json c{{"@id", contest.id}, {"@type", measure ? "CVR.BallotMeasureContest" : "CVR.CandidateContest"}};
    c["Name"] = contest.name;
    Json selections = Json::array();
    for (const Selection& selection : contest.selections) {
      Json s{{"@id", selection.id}};
      if (measure) {
        s["@type"] = "CVR.BallotMeasureSelection";
        s["Selection"] = selection.name;
      } else {
        s["@type"] = "CVR.CandidateSelection";
        if (selection.write_in) {
          s["IsWriteIn"] = true;
        } else {
          s["CandidateIds"] = Json::array({selection.candidate_id});
          Json candidate{{"@id", selection.candidate_id}, {"@type", "CVR.Candidate"}, {"Name", selection.name}};
          if (selection.party != kNoParty) candidate["PartyId"] = kParties[static_cast<size_t>(selection.party)].id;
          candidates.push_back(std::move(candidate));
        }
      }
      selections.push_back(std::move(s));
    }
    c["ContestSelection"] = std::move(selections);
    if (!measure) {
      c["VotesAllowed"] = contest.votes_allowed;
      c["VoteVariation"] =
          contest.family == Family::kRcv ? "rcv" : (contest.votes_allowed > 1 ? "n-of-m" : "plurality");
    }
    contests.push_back(std::move(c));
  }
  election["Candidate"] = std::move(candidates);
  election["Contest"] = std::move(contests);
  Json parties = Json::array();
  for (const Party& party : kParties) {
    parties.push_back(
        Json{{"@id", party.id}, {"@type", "CVR.Party"}, {"Name", party.name}, {"Abbreviation", party.abbreviation}});
  }
  std::string out = "{\"@type\":\"CVR.CastVoteRecordReport\",\"Version\":\"1.0.0\",\"GeneratedDate\":";
  out += json_quote(options.date + "T21:00:00Z");
  out += ",\"ReportType\":[\"originating-device-export\"],\"ReportGeneratingDeviceIds\":[\"rd-synthetic\"]";
  out +=
      ",\"ReportingDevice\":[{\"@id\":\"rd-synthetic\",\"@type\":\"CVR.ReportingDevice\","
      "\"Manufacturer\":\"Quorum\",\"Model\":\"quorumctl gen\"}]";
  out += ",\n\"Election\":[" + election.dump() + "]";
  out += ",\n\"Party\":" + parties.dump();
  return out;
}

class CvrWriter {
 public:
  CvrWriter(const Model& model, const Options& options, const std::filesystem::path& directory)
      : model_(model), options_(options), directory_(directory), header_(cvr_header(model, options)) {}

  // Writes every ballot, precinct by precinct, into files of at most
  // cvrs_per_file CVRs.
  Result<std::vector<std::filesystem::path>> write_all(const ProgressFn& progress) {
    const Plan& plan = model_.plan();
    std::vector<size_t> on_ballot;
    std::vector<size_t> marks;
    std::string record;
    uint64_t written = 0;
    for (uint64_t p = 0; p < plan.precincts; ++p) {
      Rng rng(options_.seed, kPrecinct, p);
      const double county = model_.county_lean(model_.county_of(p));
      const double lean = std::clamp(rng.normal(county, 0.08), 0.05, 0.95);
      const double measure_yes = std::clamp(0.45 + 0.3 * (lean - 0.5) + rng.normal(0.0, 0.03), 0.05, 0.95);
      model_.contests_of(p, on_ballot);
      const std::string precinct = model_.precinct_id(p);
      for (uint64_t b = 0; b < options_.ballots_per_precinct; ++b, ++written) {
        if (written % options_.cvrs_per_file == 0) {
          if (auto rotated = rotate(p); !rotated.ok()) return rotated.error();
        }
        Voter voter;
        voter.leans_dem = rng.chance(lean);
        voter.position = std::clamp(rng.normal(voter.leans_dem ? -0.4 : 0.4, 0.45), -1.0, 1.0);
        const std::string unique = options_.name + "-" + precinct.substr(5) + "-" + pad(b + 1, 5);
        record.clear();
        record += in_file_ == 0 ? "\n" : ",\n";
        record += "{\"@type\":\"CVR.CVR\",\"UniqueId\":" + json_quote(unique) +
                  ",\"BallotStyleId\":" + json_quote(model_.ballot_style_id(p)) +
                  ",\"BallotStyleUnitId\":" + json_quote(precinct) +
                  ",\"CreatingDeviceId\":\"rd-synthetic\",\"ElectionId\":" + json_quote(options_.name) +
                  ",\"CurrentSnapshotId\":" + json_quote(unique + "-o") +
                  ",\"CVRSnapshot\":[{\"@id\":" + json_quote(unique + "-o") +
                  ",\"@type\":\"CVR.CVRSnapshot\",\"Type\":\"original\",\"CVRContest\":[";
        for (size_t i = 0; i < on_ballot.size(); ++i) {
          const Contest& contest = model_.contests()[on_ballot[i]];
          choose(contest, voter, measure_yes, rng, marks);
          if (i > 0) record += ",";
          append_contest(record, contest, marks, rng);
        }
        record += "]}]}";
        *out_ << record;
        ++in_file_;
        last_precinct_ = p;
      }
      if (progress) progress(written, plan.ballots);
    }
    if (auto closed = finish_file(); !closed.ok()) return closed.error();
    return std::move(files_);
  }

 private:
  Result<void> rotate(uint64_t precinct) {
    if (auto closed = finish_file(); !closed.ok()) return closed;
    std::filesystem::path path = directory_ / ("cvr-" + options_.name + "-" + pad(files_.size() + 1, 5) + ".json");
    out_ = std::make_unique<Output>(path);
    if (!out_->opened()) {
      return Error{ErrorCode::kIo, "cannot create " + path.string()};
    }
    files_.push_back(std::move(path));
    first_precinct_ = precinct;
    in_file_ = 0;
    *out_ << header_ << ",\n\"CVR\":[";
    return {};
  }

  // Ends the open file: the GpUnits of the precincts it holds, then closes.
  Result<void> finish_file() {
    if (!out_) return {};
    *out_ << "\n],\n\"GpUnit\":[";
    for (uint64_t p = first_precinct_; p <= last_precinct_; ++p) {
      *out_ << (p == first_precinct_ ? "\n" : ",\n") << "{\"@id\":" << json_quote(model_.precinct_id(p))
            << ",\"@type\":\"CVR.GpUnit\",\"Type\":\"precinct\",\"Name\":" << json_quote(model_.precinct_name(p))
            << "}";
    }
    *out_ << "\n]}\n";
    Result<void> closed = out_->close();
    out_.reset();
    return closed;
  }

  const Model& model_;
  const Options& options_;
  std::filesystem::path directory_;
  std::string header_;
  std::unique_ptr<Output> out_;
  std::vector<std::filesystem::path> files_;
  uint64_t first_precinct_ = 0;
  uint64_t last_precinct_ = 0;
  uint64_t in_file_ = 0;
};

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 48) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
  });
}

bool valid_date(const std::string& date) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (date[i] < '0' || date[i] > '9') return false;
  }
  const int month = std::stoi(date.substr(5, 2));
  const int day = std::stoi(date.substr(8, 2));
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

}  // namespace

Result<Families> parse_families(const std::string& list) {
  if (list == "all") return Families{};
  Families families{false, false, false, false, false, false};
  std::stringstream stream(list);
  std::string item;
  bool any = false;
  while (std::getline(stream, item, ',')) {
    if (item == "statewide")
      families.statewide = true;
    else if (item == "congress")
      families.congress = true;
    else if (item == "house")
      families.house = true;
    else if (item == "county")
      families.county = true;
    else if (item == "measure")
      families.measure = true;
    else if (item == "rcv")
      families.rcv = true;
    else {
      return Error{ErrorCode::kInvalidArgument,
                   "unknown contest family '" + item + "' (statewide, congress, house, county, measure, rcv or all)"};
    }
    any = true;
  }
  if (!any) {
    return Error{ErrorCode::kInvalidArgument, "--contests needs at least one contest family"};
  }
  return families;
}

Result<Plan> make_plan(const Options& options) {
  auto invalid = [](std::string message) { return Error{ErrorCode::kInvalidArgument, std::move(message)}; };
  if (!valid_name(options.name)) return invalid("the name must be 1..48 of [A-Za-z0-9.-]: '" + options.name + "'");
  if (options.precincts < 1 || options.precincts > kMaxPrecincts) {
    return invalid("precincts must be 1.." + std::to_string(kMaxPrecincts));
  }
  if (options.ballots_per_precinct < 1 || options.ballots_per_precinct > kMaxBallotsPerPrecinct) {
    return invalid("ballots per precinct must be 1.." + std::to_string(kMaxBallotsPerPrecinct));
  }
  if (options.cvrs_per_file < 1 || options.cvrs_per_file > kMaxCvrsPerFile) {
    return invalid("CVRs per file must be 1.." + std::to_string(kMaxCvrsPerFile));
  }
  if (!valid_date(options.date)) return invalid("the date must be YYYY-MM-DD: '" + options.date + "'");
  const Families& f = options.families;
  if (!(f.statewide || f.congress || f.house || f.county || f.measure || f.rcv)) {
    return invalid("at least one contest family is needed");
  }
  Plan plan;
  plan.precincts = options.precincts;
  plan.counties = std::min(kMaxCounties, ceil_div(options.precincts, 40));
  plan.congressional = f.congress ? std::min(kMaxCongressionalDistricts, ceil_div(options.precincts, 60)) : 0;
  plan.house = f.house ? std::min(kMaxStateHouseDistricts, ceil_div(options.precincts, 25)) : 0;
  const uint64_t county1 = block_first(1, plan.counties, plan.precincts);
  plan.city_precincts = f.rcv ? std::max<uint64_t>(1, county1 / 2) : 0;
  plan.units = 1 + plan.counties + plan.congressional + plan.house + (f.rcv ? 1 : 0) + plan.precincts;
  plan.contests = (f.statewide ? 2 : 0) + plan.congressional + plan.house + (f.county ? plan.counties : 0) +
                  (f.measure ? 1 : 0) + (f.rcv ? 1 : 0);
  plan.ballots = options.precincts * options.ballots_per_precinct;
  plan.files = ceil_div(plan.ballots, options.cvrs_per_file);
  return plan;
}

Result<Written> write_election(const Options& options, const std::filesystem::path& directory,
                               const ProgressFn& progress) {
  Result<Plan> plan = make_plan(options);
  if (!plan.ok()) return plan.error();
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) {
    return Error{ErrorCode::kIo, "cannot create directory " + directory.string() + ": " + ec.message()};
  }
  const Model model(options, *plan);
  Written written;
  written.plan = *plan;
  written.definition = directory / ("pe-err-" + options.name + ".json");
  if (auto result = write_definition(model, options, written.definition); !result.ok()) return result.error();
  CvrWriter writer(model, options, directory);
  Result<std::vector<std::filesystem::path>> files = writer.write_all(progress);
  if (!files.ok()) return files.error();
  written.cvr_files = std::move(*files);
  QUORUM_ASSERT(written.cvr_files.size() == plan->files);
  return written;
}

}  // namespace quorum::election::synthetic
