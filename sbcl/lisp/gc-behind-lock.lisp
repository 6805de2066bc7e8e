;;;; A collection while a dying thread waits for a Lisp mutex whose holder
;;;; waits for another mutex, held by the collecting thread. Exits 104
;;;; when it passes.
;;;;
;;;; The shape of 0.9.4.1's three-thread deadlock found by stress-poll.lisp:
;;;; the main thread, in MAKE-THREAD's (WITH-MUTEX (*ALL-THREADS-LOCK*)
;;;; (PUSH ...)), allocates, starts a collection and waits for
;;;; *ALREADY-IN-GC*, which a worker holds while it stops the world; a
;;;; thread ending meanwhile waits for *ALL-THREADS-LOCK* in its exit code,
;;;; its stop deferred. Here, deterministically: a collector holds a mutex
;;;; M; the main thread takes *ALL-THREADS-LOCK*, lets a thread end (it
;;;; waits for that lock) and then waits for M; the collector collects.
;;;; Backing off cannot help (the main thread, resumed, sleeps on M again)
;;;; and upstream's thread library hangs on the first round. libsbthread
;;;; adopts the sleeper once every other thread is stopped: it waits behind
;;;; a suspended thread, so it cannot run before the world starts again
;;;; (src/host/adopt.rs).
;;;;
;;;; Passing: no hang (the runner's time limit), every collection
;;;; completed, and with libsbthread sleepers counted as stopped
;;;; (stop_adoptions, a field of struct sbthread_stats) in at least half
;;;; the rounds: the sleeps below only order the threads.
;;;;
;;;; SBCL_TEST_ARGS: the number of rounds (default 10).

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *rounds* (test-arg 10))

(defun one-round ()
  (let* ((m (sb-thread:make-mutex :name "held by the collector"))
         (go nil) (holds nil) (main-waits nil)
         (data (make-list 1000 :initial-element :x))
         (dying (sb-thread:make-thread
                 (lambda ()
                   (loop until go do (sleep 0.0002))
                   (length data))))
         (collector (sb-thread:make-thread
                     (lambda ()
                       (sb-thread:with-mutex (m)
                         (setf holds t)
                         (loop until main-waits do (sleep 0.0002))
                         ;; Time for the main thread to fall asleep on M.
                         (sleep 0.02)
                         (sb-ext:gc))))))
    (loop until holds do (sleep 0.0002))
    (sb-thread:with-mutex (sb-thread::*all-threads-lock*)
      (setf go t)
      ;; Time for the thread to end and wait for the lock.
      (sleep 0.02)
      (setf main-waits t)
      (sb-thread:with-mutex (m)))
    (wait-until-dead collector)
    (wait-until-dead dying)))

(run-counted-rounds "gc-behind-lock" *rounds* :stop-adoptions "sleepers counted as stopped" #'one-round)
(let ((dead (remove-if #'sb-thread:thread-alive-p sb-thread::*all-threads*)))
  (when dead
    (format t "~&gc-behind-lock: FAIL: ~D ended thread(s) still in *all-threads*~%" (length dead))
    (sb-ext:quit :unix-status 1)))
(sb-ext:quit :unix-status 104)
