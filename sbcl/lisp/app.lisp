;;;; A small application, saved as a core of its own the way a user saves
;;;; theirs: `make sbcl` loads this file into the upstream-built runtime and
;;;; calls (save-lisp-and-die "app.core" :toplevel #'app-main)
;;;; (sbcl/fixture.sh app). The saved core is run as is, by the executable
;;;; that saved it: upstream alone, with libsbthread preloaded, and as a
;;;; DT_NEEDED of a copy of it (sbcl/run_tests.py). Relinked runtimes cannot
;;;; run it: their symbol addresses differ from the ones the core holds.
;;;;
;;;; APP-MAIN starts *APP-WORKERS* threads that build and check lists until
;;;; an interrupt tells them to stop, collects garbage while they run,
;;;; interrupts each of them, waits for them (a wait queue, then until each
;;;; is dead), checks their results and exits with status 42 after one line
;;;;   app: 8 threads made, 4 collections, 8 interrupts run, 8 threads ended, results checked
;;;; Any failure prints "app: FAIL: ..." and exits 1; a hang is the
;;;; runner's to catch.

(in-package "CL-USER")

(defparameter *app-workers* 8)
(defparameter *app-collections* 4)
(defparameter *app-exit-status* 42)
(defparameter *app-wait-seconds* 60)

(defun app-fail (control &rest args)
  (format t "~&app: FAIL: ~?~%" control args)
  (finish-output)
  (sb-ext:quit :unix-status 1))

(defun app-wait-until (what predicate)
  "Polls PREDICATE until it is true; fails after *APP-WAIT-SECONDS*."
  (let ((deadline (+ (get-internal-real-time)
                     (* *app-wait-seconds* internal-time-units-per-second))))
    (loop until (funcall predicate)
          do (when (> (get-internal-real-time) deadline)
               (app-fail "~A: still waiting after ~D s" what *app-wait-seconds*))
             (sleep 0.001))))

(defun app-work (index started stops results)
  "One worker: lists built and checked, one of them kept across every
collection, until STOPS[INDEX] is set (by an interrupt). Stores the number
of rounds in RESULTS[INDEX], or :CORRUPT."
  (setf (svref started index) t)
  (let ((kept (loop for k below 1000 collect k))
        (rounds 0))
    (loop until (svref stops index)
          do (let ((fresh (loop for k below 200 collect (* index k))))
               (unless (= (reduce #'+ fresh) (* index 19900))
                 (setf (svref results index) :corrupt)
                 (return-from app-work)))
             (incf rounds))
    (setf (svref results index)
          (if (= (reduce #'+ kept) 499500) (max rounds 1) :corrupt))))

(defun app-main ()
  (let* ((n *app-workers*)
         (started (make-array n :initial-element nil))
         (stops (make-array n :initial-element nil))
         (interrupted (make-array n :initial-element nil))
         (results (make-array n :initial-element nil))
         (lock (sb-thread:make-mutex :name "app: ended"))
         (queue (sb-thread:make-waitqueue))
         (ended 0)
         (threads
           (loop for i below n
                 collect (let ((i i))
                           (sb-thread:make-thread
                            (lambda ()
                              (unwind-protect (app-work i started stops results)
                                (sb-thread:with-mutex (lock)
                                  (incf ended)
                                  (sb-thread:condition-notify queue))))
                            :name (format nil "app worker ~D" i))))))
    (app-wait-until "workers starting" (lambda () (every #'identity started)))
    ;; Collections while every worker conses.
    (dotimes (k *app-collections*)
      (sb-ext:gc :full (zerop k)))
    (loop for thread in threads
          for i from 0
          do (let ((i i))
               (sb-thread:interrupt-thread thread
                                           (lambda ()
                                             (setf (svref interrupted i) t
                                                   (svref stops i) t)))))
    ;; Join: the workers' own count, then the threads themselves.
    (sb-thread:with-mutex (lock)
      (loop until (= ended n)
            do (sb-thread:condition-wait queue lock)))
    (app-wait-until "workers ending" (lambda () (notany #'sb-thread:thread-alive-p threads)))
    (let ((bad (loop for r across results for i from 0
                     unless (and (integerp r) (plusp r)) collect (list i r))))
      (when bad
        (app-fail "workers with a wrong result (index result): ~S" bad)))
    (format t "~&app: ~D threads made, ~D collections, ~D interrupts run, ~D threads ended, results checked~%"
            n *app-collections* (count t interrupted) ended)
    (finish-output)
    (sb-ext:quit :unix-status *app-exit-status*)))
