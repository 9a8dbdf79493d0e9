// Python's first Pool example:
//
//   from multiprocessing import Pool
//
//   def f(x):
//       return x*x
//
//   if __name__ == '__main__':
//       with Pool(5) as p:
//           print(p.map(f, [1, 2, 3]))
#include <cstdio>
#include <vector>

#include <mproc/mproc.hpp>

int f(int x) { return x * x; }

int main() {
    mproc::Pool p(5);
    for (int y : p.map(f, std::vector{1, 2, 3})) std::printf("%d ", y);
    std::printf("\n");
}
