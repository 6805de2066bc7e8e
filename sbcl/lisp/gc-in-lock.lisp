;;;; A collection started while holding *ALL-THREADS-LOCK*, while a thread
;;;; ends. Exits 104 when it passes.
;;;;
;;;; 0.9.4.1 can start a collection wherever Lisp code allocates, also in
;;;; the PUSH inside MAKE-THREAD's (WITH-MUTEX (*ALL-THREADS-LOCK*) ...).
;;;; A thread ending then waits for that lock in its exit code, with GC
;;;; inhibited and its signals blocked: its stop is deferred, and the
;;;; thread that would release the lock is the one waiting for it to stop.
;;;; Here the main thread does that on purpose, 20 times. Upstream's
;;;; thread library hangs on the first round. libsbthread's stopper sees
;;;; that the sleeper waits for a mutex it holds itself, so cannot run
;;;; before the world is started again, and counts it as stopped, its stack
;;;; scanned from where it sleeps (src/host/adopt.rs).
;;;;
;;;; Passing: no hang (the runner's time limit), every collection
;;;; completed, every ended thread gone from *ALL-THREADS* (its exit code,
;;;; resumed after the collection, deleted itself), and with libsbthread the sleepers
;;;; counted (stop_adoptions, a field of struct sbthread_stats) in at least
;;;; half the rounds: the sleep below only orders the threads.
;;;;
;;;; SBCL_TEST_ARGS: the number of rounds (default 20).

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *rounds* (test-arg 20))

(defun one-round ()
  (let* ((go nil)
         (data (make-list 1000 :initial-element :x))
         (dying (sb-thread:make-thread
                 (lambda ()
                   (loop until go do (sleep 0.0002))
                   (length data)))))
    (sb-thread:with-mutex (sb-thread::*all-threads-lock*)
      (setf go t)
      ;; Time for the thread to end and wait for the lock.
      (sleep 0.02)
      (sb-ext:gc))
    (wait-until-dead dying)))

(run-counted-rounds "gc-in-lock" *rounds* :stop-adoptions "sleepers counted as stopped" #'one-round)
(let ((dead (remove-if #'sb-thread:thread-alive-p sb-thread::*all-threads*)))
  (when dead
    (format t "~&gc-in-lock: FAIL: ~D ended thread(s) still in *all-threads*~%" (length dead))
    (sb-ext:quit :unix-status 1)))
(sb-ext:quit :unix-status 104)
