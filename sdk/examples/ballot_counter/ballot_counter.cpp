// The smallest useful Quorum plugin: counts the ballots an actor accepted
// and the messages of each type, and refuses a ballot without an id.
#include <quorum/sdk/sdk.hpp>

#include <map>
#include <string>

struct BallotCounter {
  static constexpr const char* name = "ballot_counter";
  static constexpr const char* version = "1.0.0";
  static constexpr uint32_t projection_schema = 1;

  struct Projection {
    uint64_t ballots = 0;
    std::map<std::string, uint64_t> by_type;
    MSGPACK_DEFINE_MAP(ballots, by_type)
  };

  quorum::sdk::Outcome handle(const quorum::sdk::Context& /*context*/, const quorum::sdk::Message& message,
                              Projection& projection) const {
    if (message.type == "cvr" && message.id.empty()) {
      return quorum::sdk::Outcome::reject("a ballot needs an id");
    }
    if (message.type == "cvr") {
      ++projection.ballots;
    }
    ++projection.by_type[std::string(message.type)];
    return quorum::sdk::Outcome::accept();
  }
};

QUORUM_PLUGIN(BallotCounter)
