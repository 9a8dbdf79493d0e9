// The "submit many, handle each as it completes" example of Python's concurrent.futures
// documentation, reading local files where Python fetches web pages (the pattern is the same:
// a dict from future to its input, as_completed, an exception per failed call):
//
//   import concurrent.futures
//   import urllib.request
//
//   URLS = ['http://www.foxnews.com/',
//           'http://www.cnn.com/',
//           'http://europe.wsj.com/',
//           'http://www.bbc.co.uk/',
//           'http://nonexistant-subdomain.python.org/']
//
//   # Retrieve a single page and report the URL and contents
//   def load_url(url, timeout):
//       with urllib.request.urlopen(url, timeout=timeout) as conn:
//           return conn.read()
//
//   # We can use a with statement to ensure threads are cleaned up promptly
//   with concurrent.futures.ThreadPoolExecutor(max_workers=5) as executor:
//       # Start the load operations and mark each future with its URL
//       future_to_url = {executor.submit(load_url, url, 60): url for url in URLS}
//       for future in concurrent.futures.as_completed(future_to_url):
//           url = future_to_url[future]
//           try:
//               data = future.result()
//           except Exception as exc:
//               print('%r generated an exception: %s' % (url, exc))
//           else:
//               print('%r page is %d bytes' % (url, len(data)))
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <mproc/mproc.hpp>

const std::vector<std::string> PATHS = {"/etc/os-release",
                                        "/proc/self/status",
                                        "/proc/cpuinfo",
                                        "/etc/hostname",
                                        "/nonexistent-directory/file"};

// Read a single file and report its contents
std::string load_file(const std::string& path, int max_bytes) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error("cannot open " + path);
    std::string data(std::istreambuf_iterator<char>(file), {});
    if (static_cast<int>(data.size()) > max_bytes) throw std::length_error(path + " is too large");
    return data;
}

int main(int argc, char** argv) {
    mproc::init(argc, argv);
    // The executor's destructor waits for its threads, as Python's with statement does
    mproc::futures::ThreadPoolExecutor executor(5);
    // Start the load operations and mark each future with its path
    std::unordered_map<mproc::futures::Future<std::string>, std::string> future_to_path;
    for (const auto& path : PATHS) future_to_path.emplace(executor.submit(load_file, path, 1 << 20), path);
    for (const auto& future : mproc::futures::as_completed(future_to_path | std::views::keys)) {
        const std::string& path = future_to_path.at(future);
        try {
            const std::string data = future.result();
            std::printf("'%s' file is %zu bytes\n", path.c_str(), data.size());
        } catch (const std::exception& exc) {
            std::printf("'%s' generated an exception: %s\n", path.c_str(), exc.what());
        }
    }
}
