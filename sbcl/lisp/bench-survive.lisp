;;;; Thread churn that conses little, as sbcl/lisp/churn.lisp: create a
;;;; thread that returns at once, poll until it is dead (yielding the CPU
;;;; between polls), again, with no explicit GC. 0.9.4.1 reaps a dead
;;;; thread only from its finalizer after a GC, so dead threads pile up
;;;; between the GCs the consing triggers; each keeps its block, and a
;;;; process whose map entries run out (vm.max_map_count) dies. Runs ROUNDS
;;;; rounds (default 200000) or SECONDS seconds (default 120), whichever
;;;; comes first. Prints
;;;;   survive-progress ROUNDS       every 1000 rounds (the last one says how
;;;;                                 far a process that died got)
;;;;   survive-rounds ROUNDS         at the end, with the most map entries seen
;;;; Settings: rounds=N, seconds=N.

(in-package "CL-USER")

(load (merge-pathnames "bench-common.lisp" *load-truename*))

(defvar *rounds* (bench-arg :rounds 200000))
(defvar *seconds* (bench-arg :seconds 120))

(let* ((start (now-us))
       (deadline (+ start (* *seconds* 1000000)))
       (most-maps 0)
       (done 0))
  (loop for i from 1 to *rounds*
        do (yield-until-dead (sb-thread:make-thread (lambda () nil)))
           (setf done i)
           (when (zerop (mod i 1000))
             (format t "~&sbcl-bench survive-progress ~D rounds~%" i)
             (finish-output)
             (when (zerop (mod i 10000))
               (setf most-maps (max most-maps (map-count))))
             (when (> (now-us) deadline)
               (return))))
  (emit "survive-rounds" done "rounds" :cap *rounds* :most_maps most-maps
        :seconds (format nil "~,1F" (/ (- (now-us) start) 1d6))))
(bench-done)
