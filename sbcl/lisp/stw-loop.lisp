;;;; A loop of stop + start round trips of the world (SUB-GC's sequence with
;;;; COLLECT-GARBAGE left out, as bench-gc.lisp's stw-idle-queue-N), for
;;;; sbcl/stw-cpu.py, which weighs the process's CPU time against the round
;;;; trips' wall time. Settings (SBCL_TEST_ARGS): n=N threads waiting on a
;;;; waitqueue (default 64), count=N round trips (default 2000; 0 measures
;;;; the rest of the process).

(in-package "CL-USER")

(load (merge-pathnames "bench-common.lisp" *load-truename*))

(defvar *n* (bench-arg :n 64))
(defvar *count* (bench-arg :count 2000))

(let* ((threads (start-idlers *n* :queue))
       (trips (time-stws *count*)))
  (release-idlers threads)
  (emit "stw-loop" (if trips (median trips) 0) "us" :n *count* :threads *n*
        :total_us (reduce #'+ trips)))
(bench-done)
