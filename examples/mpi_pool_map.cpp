// pool_map.cpp on MPI: the same program, apart from the include and the Pool line.
//
//   mpirun -n 3 ./mpi_pool_map        # rank 0 + 2 worker ranks
//
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
#include <mproc/mpi.hpp>

int f(int x) { return x * x; }

int main() {
    mproc::mpi::Pool p;  // every rank of `mpirun -n N` but rank 0 is a worker
    for (int y : p.map(f, std::vector{1, 2, 3})) std::printf("%d ", y);
    std::printf("\n");
}
