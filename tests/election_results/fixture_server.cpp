// election_results_fixture_server [PORT]: quorumd's HTTP front end (the real
// http::Server: /, /v1/results, /v1/results/events) over a ProjectionNode
// holding the results fixture (fixture.hpp). Prints "port N" once listening;
// each line "phase K" on stdin (K = 0, 1, 2) swaps in that phase's
// projections; end of input stops it. For the browser test and for looking
// at the live page without the election plugin.
#include "election_results/fixture.hpp"
#include "election_results/projection_node.hpp"

#include <quorum/http/server.hpp>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  using namespace quorum;
  election::testing::ProjectionNode node(election::testing::actors(0));
  http::ServerOptions options;
  options.port = argc > 1 ? static_cast<uint16_t>(std::stoi(argv[1])) : 0;
  options.stream_heartbeat = std::chrono::milliseconds(2000);
  http::Server server(node, options);
  Result<uint16_t> port = server.start();
  if (!port) {
    std::cerr << "fixture server: " << port.error().message << "\n";
    return 1;
  }
  std::cout << "port " << *port << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.rfind("phase ", 0) == 0) {
      const int phase = std::stoi(line.substr(6));
      if (phase >= 0 && phase <= 2) {
        node.set_actors(election::testing::actors(phase));
        std::cout << "phase " << phase << std::endl;
        continue;
      }
    }
    std::cerr << "fixture server: expected 'phase 0|1|2', got '" << line << "'\n";
  }
  server.stop();
  node.shutdown();
  return 0;
}
