// Python's start-method examples:
//
//   import multiprocessing as mp
//
//   def foo(q):
//       q.put('hello')
//
//   if __name__ == '__main__':
//       mp.set_start_method('spawn')
//       q = mp.Queue()
//       p = mp.Process(target=foo, args=(q,))
//       p.start()
//       print(q.get())
//       p.join()
//
// and the same with a context, `ctx = mp.get_context('forkserver')`. A spawned child runs this
// program again: mproc::init, first in main, is where it turns into the worker.
#include <cstdio>
#include <string>

#include <mproc/mproc.hpp>

void foo(mproc::Queue<std::string> q) { q.put("hello"); }

int main(int argc, char** argv) {
    mproc::init(argc, argv);

    mproc::set_start_method("spawn");
    mproc::Queue<std::string> q;
    mproc::Process p(foo, q);
    p.start();
    std::printf("%s\n", q.get().c_str());
    p.join();

    auto ctx = mproc::get_context("forkserver");
    auto q2 = ctx.Queue<std::string>();
    auto p2 = ctx.Process(foo, q2);
    p2.start();
    std::printf("%s\n", q2.get().c_str());
    p2.join();
    return p.exitcode() == 0 && p2.exitcode() == 0 ? 0 : 1;
}
