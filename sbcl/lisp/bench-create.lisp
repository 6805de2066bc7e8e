;;;; Thread create + join, µs per thread, in batches: each batch creates
;;;; BATCH threads one after the other, each doing nothing, and joins each
;;;; before the next is created, then calls (gc) so that the finalizers reap
;;;; the batch (0.9.4.1 reaps a dead thread only from its finalizer after a
;;;; GC): a sample is the batch's time, GC and reaping included, divided by
;;;; BATCH. Two joins:
;;;;   create-join-cv    the thread's function ends by setting a flag and
;;;;                     notifying a waitqueue; the creator waits on it
;;;;   create-join-poll  the creator polls THREAD-ALIVE-P, calling sched_yield
;;;;                     between polls (a pure spin on a loaded 2-core
;;;;                     machine takes the CPU the thread needs to finish)
;;;; Settings (SBCL_TEST_ARGS): batches=N (default 30), batch=N (default 100).

(in-package "CL-USER")

(load (merge-pathnames "bench-common.lisp" *load-truename*))

(defvar *batches* (bench-arg :batches 30))
(defvar *batch* (bench-arg :batch 100))

(defun one-cv ()
  (let ((box (make-done-box)))
    (sb-thread:make-thread (lambda () (signal-done box)))
    (wait-done box)))

(defun one-poll ()
  (yield-until-dead (sb-thread:make-thread (lambda () nil))))

(defun batch (fn)
  "µs per thread of one batch of FN, with the GC that reaps it."
  (let ((t0 (now-us)))
    (dotimes (i *batch*) (funcall fn))
    (sb-ext:gc)
    (/ (- (now-us) t0) *batch*)))

(defun run (name fn)
  ;; warm-up: compile paths, fill whatever caches there are
  (batch fn)
  (batch fn)
  (let* ((t0 (now-us))
         (samples (loop repeat *batches* collect (batch fn)))
         (elapsed (- (now-us) t0)))
    (emit-samples name samples "us/thread" :threads (* *batches* *batch*) :elapsed_us elapsed)))

(sb-ext:gc :full t)
(run "create-join-cv" #'one-cv)
(run "create-join-poll" #'one-poll)
(bench-done)
