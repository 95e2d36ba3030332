// host-demo: a host application using plugvisor. It discovers a plugin
// directory, queries the registry by contract type, calls every provider,
// registers one in-process provider beside them, and shows a plugin exiting
// on its idle timeout and being relaunched transparently by the next call.
//
//   host-demo [PLUGIN_DIR...]        (default: build/plugins)
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <string>

#include <spdlog/spdlog.h>

#include "plugvisor/manager.hpp"

namespace {

using namespace std::chrono_literals;

/// An internal provider: same interface, called in-process.
class Reverse final : public plugvisor::DataProcessor {
 public:
  plugvisor::Bytes process_data(plugvisor::Bytes input) override { return {input.rbegin(), input.rend()}; }
  std::vector<std::string> supported_formats() override { return {"text/plain"}; }
};

// An input each example type can work on (the types come from plugins in
// three languages; any other type gets plain text).
std::string sample_input(const std::string& type) {
  static const std::map<std::string, std::string> samples{
      {"json-pretty", R"({"hello":"plugvisor","calls":[1,2]})"},
      {"stats", "3 1 4 1 5 9 2 6"},
      {"percentiles", "3 1 4 1 5 9 2 6"},
      {"csv-to-json", "name,language\ntext-tools,C++\npy-stats,Python\n"},
      {"markdown-headings", "# plugvisor\nsome text\n## Plugins\n"},
  };
  auto it = samples.find(type);
  return it == samples.end() ? "Hello, plugvisor!\nsecond line" : it->second;
}

void heading(const std::string& text) { std::cout << "\n== " << text << " ==\n"; }

std::string printable(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text.size() > 70 ? text.substr(0, 70) + "..." : text;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  plugvisor::ManagerOptions options;
  for (int i = 1; i < argc; ++i) options.plugin_dirs.emplace_back(argv[i]);
  if (options.plugin_dirs.empty()) options.plugin_dirs.emplace_back("build/plugins");
  options.defaults.idle_timeout = 1s;  // short, to show an idle exit
  options.config_types["text-tools.prefix"] = {{"prefix", "| "}};

  // State changes arrive on a manager thread; keep a log and wake main.
  // Declared before the manager, which calls the listener until it is gone.
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> idled;
  try {
    plugvisor::Manager manager(options);
    manager.on_state_change([&](const std::string& id, plugvisor::PluginState from, plugvisor::PluginState to) {
      std::lock_guard lock(mutex);
      std::cout << "   [state] " << id << ": " << to_string(from) << " -> " << to_string(to) << "\n";
      if (to == plugvisor::PluginState::idle) idled.push_back(id);  // any plugin
      changed.notify_all();
    });

    heading("Discovery in " + options.plugin_dirs.front().string());
    for (const auto& plugin : manager.plugins()) {
      std::cout << "plugin " << plugin.id << " " << plugin.capabilities.version << ": "
                << plugin.capabilities.description << "\n";
    }
    for (const auto& rejected : manager.rejections()) {
      std::cout << "rejected " << rejected.path.string() << ": " << rejected.reason << "\n";
    }

    manager.registry().add_internal<plugvisor::DataProcessor>("reverse", std::make_shared<Reverse>());

    heading("The registry, by contract type");
    for (const auto& info : manager.registry().list()) {
      std::string name = info.contract + "/" + info.type;
      name.resize(std::max<std::size_t>(name.size(), 28), ' ');
      std::cout << name << " <- " << info.provider
                << (info.kind == plugvisor::ProviderKind::internal ? " (in-process)" : " (plugin process)")
                << (info.active ? "" : " [shadowed]") << "\n";
    }

    heading("Calling every dataProcessor");
    for (const auto& provider : manager.registry().all<plugvisor::DataProcessor>()) {
      const std::string input = sample_input(provider.type);
      std::string result;
      try {
        result = provider.object->process_data(input);
      } catch (const plugvisor::Error& e) {
        result = std::string("error ") + std::string(to_string(e.code())) + ": " + e.what();
      }
      auto formats = provider.object->supported_formats();
      std::cout << provider.type << " (" << provider.provider << ", " << (formats.empty() ? "" : formats.front())
                << ") -> " << printable(result) << "\n";
    }

    heading("Idle exit and transparent relaunch");
    auto upper = manager.registry().get<plugvisor::DataProcessor>("uppercase");
    auto before = manager.plugin("plugin-text-tools");
    std::cout << "plugin-text-tools is " << to_string(before->state) << " with pid " << before->pid
              << "; waiting for its 1s idle timeout...\n";
    {
      std::unique_lock lock(mutex);
      auto text_tools_idle = [&] { return std::find(idled.begin(), idled.end(), "plugin-text-tools") != idled.end(); };
      if (!changed.wait_for(lock, 10s, text_tools_idle)) {
        std::cout << "it did not idle out within 10s\n";
        return 1;
      }
    }
    std::cout << "plugin-text-tools is now " << to_string(manager.plugin("plugin-text-tools")->state)
              << " (no process). Calling uppercase again...\n";
    std::string relaunched = upper->process_data("relaunched on demand");
    std::cout << "uppercase -> " << relaunched << "\n";
    auto after = manager.plugin("plugin-text-tools");
    std::cout << "plugin-text-tools is " << to_string(after->state) << " with pid " << after->pid << " (launch #"
              << after->starts << ")\n";

    heading("Shutdown");
  } catch (const plugvisor::Error& e) {
    std::cerr << "host-demo: " << e.what() << "\n";
    return 1;
  }
  std::cout << "every plugin stopped, socket directory removed\n";
  return 0;
}
