// The first example of Python's multiprocessing documentation:
//
//   from multiprocessing import Process
//
//   def f(name):
//       print('hello', name)
//
//   if __name__ == '__main__':
//       p = Process(target=f, args=('bob',))
//       p.start()
//       p.join()
#include <cstdio>
#include <string>

#include <mproc/mproc.hpp>

void f(const std::string& name) { std::printf("hello %s\n", name.c_str()); }

int main() {
    mproc::Process p(f, std::string("bob"));
    p.start();
    p.join();
    return p.exitcode().value_or(1);
}
